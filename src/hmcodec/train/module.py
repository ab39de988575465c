"""The Lightning module that trains one stage of a scalable codec.

Losses (task-compatible paper Eq. 3 and 4; reconstruction distortion is RMSE on 0–255):
base ``λ_b·d_b + R_b + β·‖X̂ − X‖``; enhancement ``λ_e·d_e + R(Ŷ_e | Ŷ_b)`` with the base frozen.
Rates are in bits per pixel and come from the same quantised latents the coder writes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR, LinearLR, ReduceLROnPlateau

from hmcodec.codec.interface import Codec, ModuleLike
from hmcodec.codec.methods import EnhancementMethod
from hmcodec.codec.rate import GainUnit
from hmcodec.entropy.base import entropy_models
from hmcodec.errors import ConfigError, HmcodecError
from hmcodec.losses import batch_psnr, bits_per_pixel, rmse_255
from hmcodec.tasks.base import TaskMetric
from hmcodec.train.config import StageConfig

if TYPE_CHECKING:
    from lightning.pytorch.utilities.types import LRSchedulerConfigType, OptimizerLRScheduler


class TrainingDiverged(HmcodecError):
    """The loss became NaN or infinite."""


def lr_factor(stage: StageConfig, step: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) over ``stage.lr``, for the
    ``cosine`` and ``constant`` schedules: a linear warm-up from ``1 / warmup`` to 1 over the first
    ``warmup`` steps, then 1 (constant) or a cosine from 1 to ``min_lr / lr`` at ``max_steps``."""
    warmup = stage.warmup
    if step < warmup:
        return (step + 1) / warmup
    if stage.schedule != "cosine":
        return 1.0
    floor = stage.final_lr / stage.lr
    progress = min(1.0, (step - warmup) / max(1, stage.max_steps - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class CodecModule(L.LightningModule):
    """Trains the base layer (stage ``base``) or the enhancement layer (``enhancement``)."""

    def __init__(self, codec: Codec, stage: StageConfig) -> None:
        super().__init__()
        self.codec = codec
        self.stage = stage
        enhancement = codec.enhancement
        # ``standalone`` re-fits only the entropy model of a trained layer
        refit = (
            enhancement.entropy
            if isinstance(enhancement, EnhancementMethod) and enhancement.trains_entropy_only
            else None
        )
        stages: dict[str, list[ModuleLike | None]] = {
            "task": [codec.task],
            "base": [
                m for m in codec.base_modules() if not (stage.freeze_task and m is codec.task)
            ],
            "enhancement": [refit] if refit is not None else [enhancement, codec.secondary_task],
        }
        trained = [m for m in stages[stage.stage] if m is not None]
        if stage.stage == "enhancement" and refit is not None and not stage.enhancement_from:
            raise ConfigError(
                f"method {codec.config.method} re-fits the entropy model of a trained "
                "conditional layer: give its enhancement stage enhancement_from (that model file)."
            )
        codec.requires_grad_(False)
        for module in trained:
            module.requires_grad_(True)
        # modules outside this stage: frozen, in eval mode (BatchNorm statistics kept)
        self.frozen = [m for m in codec.children() if all(m is not t for t in trained)]
        self._metric: TaskMetric | None = None
        base_gain = getattr(codec, "base_gain", None)
        if stage.base_lmbda is not None:
            if base_gain is None:
                raise ConfigError(
                    f"stage {stage.stage}: base_lmbda needs a variable-rate base "
                    "(model.variable_rate.base)."
                )
            try:
                base_gain.rate.check(stage.base_lmbda, "base")
            except ValueError as error:
                raise ConfigError(
                    f"stage {stage.stage}: base_lmbda is out of range: {error}."
                ) from None

    def train(self, mode: bool = True) -> CodecModule:
        super().train(mode)
        for module in self.frozen:  # a frozen base keeps its BatchNorm statistics
            module.eval()
        return self

    def on_train_start(self) -> None:
        self.train()  # Lightning does not call train() itself; this sets the stage's modes

    def on_train_batch_start(self, batch: Any, batch_index: int) -> None:
        # Lightning restores the modes it captured around validation; keep frozen parts in eval
        for module in self.frozen:
            module.eval()

    def configure_optimizers(self) -> OptimizerLRScheduler:
        """Adam and the stage's schedule, stepped every optimizer step.

        ``cosine``/``constant``: one :class:`LambdaLR` (:func:`lr_factor`). ``plateau``: a chainable
        :class:`LinearLR` warm-up and :class:`ReduceLROnPlateau` on ``val/loss``; the plateau
        scheduler is stepped once per validation, at its end and before that validation's
        checkpoint is written (see ``hmcodec.train.run``), so a resumed run keeps its state.
        """
        stage = self.stage
        optimizer = torch.optim.Adam(self._parameter_groups(), lr=stage.lr)
        if stage.schedule != "plateau":
            schedule = LambdaLR(optimizer, lambda step: lr_factor(stage, step))
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": schedule, "interval": "step", "name": "lr"},
            }
        schedulers: list[LRSchedulerConfigType] = []
        if stage.warmup > 1:
            warmup = LinearLR(optimizer, 1.0 / stage.warmup, 1.0, total_iters=stage.warmup - 1)
            schedulers.append({"scheduler": warmup, "interval": "step", "name": "lr-warmup"})
        plateau = ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=stage.plateau_factor,
            patience=stage.plateau_patience,
            min_lr=stage.final_lr,
        )
        schedulers.append(
            {
                "scheduler": plateau,
                "interval": "step",
                "monitor": "val/loss",
                "strict": False,  # there is no val/loss before the first validation
                "name": "lr",
            }
        )
        # Lightning takes scheduler dicts here too, but its OptimizerLRScheduler type omits them
        return [optimizer], schedulers  # type: ignore[return-value]

    def _parameter_groups(self) -> list[dict[str, Any]]:
        """The trained parameters: the rate–distortion group first, then (if any) the entropy
        models' learned quantiles, which only the auxiliary loss trains (CompressAI steps them
        with an optimizer of their own; Adam's groups are independent in the same way)."""
        quantiles = {
            id(p) for m in entropy_models(self.codec) for p in m.aux_parameters() if p.requires_grad
        }
        trained = [p for p in self.codec.parameters() if p.requires_grad]
        groups: list[dict[str, Any]] = [
            {"params": [p for p in trained if id(p) not in quantiles], "name": "rate-distortion"}
        ]
        if quantiles:
            aux = [p for p in trained if id(p) in quantiles]
            groups.append({"params": aux, "name": "quantiles"})
        return groups

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse to resume from a checkpoint whose optimizer grouped the parameters otherwise
        (before 0.3.1 a hyperprior's quantiles shared the one group), before Lightning fails
        on it with an index error."""
        saved = [len(state["param_groups"]) for state in checkpoint.get("optimizer_states", [])]
        groups = len(self._parameter_groups())
        if saved and saved[0] != groups:
            raise ConfigError(
                f"this checkpoint's optimizer has {saved[0]} parameter group(s) where this "
                f"version of hmcodec trains {groups} (since 0.3.1 a hyperprior's learned "
                "quantiles are a group of their own, outside gradient clipping), so the run "
                "cannot resume: train the stage again into a new folder."
            )

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip the rate–distortion gradient alone (its norm, or each value with ``"value"``).

        The quantiles' auxiliary gradient stays out of the norm, as in CompressAI's training
        (the auxiliary optimizer is not clipped). Inside one norm it dominated: on a trained
        CamVid hyperprior layer it is ~75 against 1–7 for the rate–distortion gradient, so
        clipping at 1 scaled every step of the transforms by ~1/75 and by a factor that drifted
        with the quantiles' loss (``docs/benchmarks.md``, "Clipping and the hyperprior")."""
        if not gradient_clip_val:
            return
        parameters = optimizer.param_groups[0]["params"]
        if gradient_clip_algorithm == "value":
            torch.nn.utils.clip_grad_value_(parameters, gradient_clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(parameters, gradient_clip_val)

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, ReduceLROnPlateau):
            return  # stepped at the end of each validation instead (``step_plateau``)
        scheduler.step()

    def step_plateau(self, loss: float) -> None:
        """Step the ``plateau`` schedulers with a validation's ``val/loss``."""
        for config in self.trainer.lr_scheduler_configs:
            if isinstance(config.scheduler, ReduceLROnPlateau):
                config.scheduler.step(loss)

    def _aux_loss(self) -> Tensor:
        losses = [
            m.aux_loss()
            for m in entropy_models(self.codec)
            if any(p.requires_grad for p in m.parameters())
        ]
        return sum(losses, torch.zeros((), device=self.device))

    def losses(self, batch: dict[str, Any], batch_index: int = 0) -> dict[str, Tensor]:
        x = batch["image"]
        pixels = x.shape[0] * x.shape[2] * x.shape[3]
        if self.stage.stage == "task":
            task = self.codec.task.loss(x, batch)
            return {
                "loss": task,
                "task_loss": task,
                "bpp": torch.zeros((), device=x.device),
                "image_like": x,
            }
        base_gain: GainUnit | None = getattr(self.codec, "base_gain", None)
        if self.stage.stage == "base":
            # a variable-rate base trains over its range, or at the ``base_lmbda`` a stage fixes
            base_lmbda = self.stage.base_lmbda or self._operating_lmbda(
                base_gain, batch_index, self.stage.lmbda
            )
            beta = self.stage.beta_at(base_lmbda)
            out = self.codec.forward_base(x, beta=beta, lmbda=base_lmbda)
            task = self.codec.task.loss(out["image_like"], batch)
            bpp = bits_per_pixel(out["likelihoods"], pixels)
            values = {"task_loss": task, "bpp": bpp, "image_like": out["image_like"]}
            if base_gain is not None:
                values["lmbda"] = torch.tensor(base_lmbda)
            loss = base_lmbda * task + bpp
            if out.get("direct") is not None:  # g_a(ŷ_b): the β reward (gradient scaled by β)
                values["direct_rmse"] = rmse_255(x, out["direct"])
                values["direct_psnr"] = batch_psnr(x, out["direct"])
                loss = loss + values["direct_rmse"]
            auxiliary = self.codec.auxiliary
            if auxiliary is not None:
                values["auxiliary_loss"] = auxiliary.loss(out["y_hat"], batch)
                loss = loss + self.codec.config.auxiliary_alpha * values["auxiliary_loss"]
            return {"loss": loss, **values}
        # the frozen base's operating point: none (fixed-rate), the stage's, or drawn like λ_e
        frozen_lmbda: float | None = None
        if base_gain is not None:
            frozen_lmbda = self.stage.base_lmbda or self._operating_lmbda(base_gain, batch_index, 0)
        gain = getattr(self.codec.enhancement, "gain", None)
        lmbda = self._operating_lmbda(gain, batch_index, self.stage.lmbda)
        with torch.no_grad():  # the frozen base: its latent only (no likelihoods or syntheses)
            symbols = self.codec.base_symbols(x, frozen_lmbda)
            y_hat_b = self.codec.base_latent(symbols, frozen_lmbda)
        out = self.codec.forward_enhancement(x, y_hat_b, lmbda)
        bpp = bits_per_pixel(out["likelihoods"], pixels)
        drawn = {"lmbda": torch.tensor(lmbda)} if gain is not None else {}
        secondary = self.codec.secondary_task
        if secondary is not None:
            task = secondary.loss(out["output"], batch)
            return {
                "loss": lmbda * task + bpp,
                "task_loss": task,
                "bpp": bpp,
                "image_like": out["output"],
                **drawn,
            }
        distortion = rmse_255(x, out["output"])
        loss = lmbda * distortion + bpp
        return {
            "loss": loss,
            "rmse": distortion,
            "bpp": bpp,
            "psnr": batch_psnr(x, out["output"]),
            **drawn,
        }

    def _operating_lmbda(self, gain: GainUnit | None, batch_index: int, fixed: float) -> float:
        """λ of a layer for this batch: the stage's λ for a fixed-rate layer; for a variable-rate
        one drawn log-uniformly in training, and the ``batch_index``-th anchor (cyclically) in
        validation, so every validation scores the same operating points."""
        if gain is None:
            return fixed
        if self.training:
            return gain.sample()
        anchors = gain.rate.anchors()
        return anchors[batch_index % len(anchors)]

    def training_step(self, batch: dict[str, Any], batch_index: int) -> Tensor:
        values = self.losses(batch, batch_index)
        loss = values["loss"] + self._aux_loss()
        if not math.isfinite(float(loss.detach())):
            raise TrainingDiverged(
                f"the training loss became {float(loss)} at step "
                f"{self.global_step}; lower the learning rate."
            )
        self.log_dict(
            {f"train/{k}": v for k, v in values.items() if k != "image_like"},
            prog_bar=False,
            batch_size=batch["image"].shape[0],
        )
        optimizers = self.trainer.optimizers if self._trainer is not None else []
        if optimizers:  # the learning rate this step used
            self.log("train/lr", optimizers[0].param_groups[0]["lr"], batch_size=1)
        self.log("loss", values["loss"], prog_bar=True, logger=False)
        self.log("bpp", values["bpp"], prog_bar=True, logger=False)
        return loss

    def _scored_task(self):  # the head whose metric this stage's validation reports
        if self.stage.stage in ("task", "base"):
            return self.codec.task
        return self.codec.secondary_task

    def on_validation_epoch_start(self) -> None:
        task = self._scored_task()
        self._metric = task.metric() if task is not None else None

    def validation_step(self, batch: dict[str, Any], batch_index: int) -> None:
        values = self.losses(batch, batch_index)
        if self._metric is not None:
            self._metric.update(self._scored_task().predict(values["image_like"]), batch)
        self.log_dict(
            {f"val/{k}": v for k, v in values.items() if k != "image_like"},
            batch_size=batch["image"].shape[0],
            sync_dist=True,
        )

    def on_validation_epoch_end(self) -> None:
        if self._metric is not None:
            results = self._metric.compute()
            self.log_dict({f"val/{k}": float(v) for k, v in results.items()}, sync_dist=True)
