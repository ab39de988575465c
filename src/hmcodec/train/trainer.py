"""One stage's Lightning run: the ``Trainer`` (validation, checkpoint and early-stopping
callbacks), ``fit`` with Ctrl-C turned into :class:`TrainingInterrupted`, and the pick of the
stage's best validation (:func:`finish_stage`). :mod:`hmcodec.train.run` strings the stages.
"""

from __future__ import annotations

import logging
import signal
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    EarlyStopping,
    ModelCheckpoint,
    OnExceptionCheckpoint,
)
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader

from hmcodec.errors import HmcodecError
from hmcodec.train.callbacks import (
    AtomicCheckpointIO,
    ThreadPolicy,
    Validations,
    training_threads,
)
from hmcodec.train.config import ExperimentConfig, StageConfig
from hmcodec.train.module import CodecModule

if TYPE_CHECKING:
    from lightning.fabric.plugins.precision.precision import _PRECISION_INPUT

log = logging.getLogger("hmcodec")


class TrainingInterrupted(HmcodecError):
    exit_code = 130


def finish_stage(
    trainer: L.Trainer, module: CodecModule, val_loader: DataLoader
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Give ``module`` the weights of the stage's best validation; returns its summary.

    The last step is validated too if it was not (``max_steps`` not a multiple of the interval);
    if its ``val/loss`` beats the best checkpoint's, the last iterate is kept.
    """
    # Lightning's CallbackConnector sets Trainer.callbacks, which Trainer does not declare
    callbacks = trainer.callbacks  # type: ignore[attr-defined]
    validations = next(c for c in callbacks if isinstance(c, Validations))
    last_step = trainer.global_step
    stopped_early = bool(trainer.should_stop and last_step < (trainer.max_steps or 0))
    if not validations.history or validations.history[-1]["step"] != last_step:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*ckpt_path.*")
            trainer.validate(module, val_loader, verbose=False)
    history = validations.history
    last = history[-1] if history and history[-1]["step"] == last_step else None
    checkpoints = next(
        c
        for c in trainer.checkpoint_callbacks
        if isinstance(c, ModelCheckpoint) and c.monitor == "val/loss"
    )
    best_path = getattr(checkpoints, "best_model_path", "") or ""
    best_score = getattr(checkpoints, "best_model_score", None)
    best = last
    if best_path and best_score is not None and Path(best_path).is_file():
        score = float(best_score)
        if last is None or not last["val/loss"] < score:
            checkpoint = torch.load(best_path, map_location="cpu", weights_only=False)
            module.load_state_dict(checkpoint["state_dict"])
            step = int(checkpoint["global_step"])
            found: dict[str, float] = next(
                (h for h in history if h["step"] == step), {"step": step}
            )
            best = found | {"val/loss": score}
    summary: dict[str, Any] = {}
    if best is not None:
        summary.update({k: v for k, v in best.items() if k != "step"})
        summary["best_step"] = int(best["step"])
        summary["best_val_loss"] = float(best["val/loss"])
    summary["steps"] = last_step
    summary["last_step"] = last_step
    if last is not None:
        summary["last_val_loss"] = float(last["val/loss"])
    summary["stopped_early"] = stopped_early
    return summary, list(history)


def build_trainer(
    config: ExperimentConfig, stage: StageConfig, stage_dir: Path, out: Path, progress: bool
) -> L.Trainer:
    settings = config.trainer
    interval = min(settings.val_check_interval, stage.max_steps)
    callbacks: list[Any] = [
        ThreadPolicy(training_threads(settings)),
        Validations(),
        # both written at the end of each validation (so a file's val/loss is its own weights'):
        # the best by val/loss (``step<N>.ckpt``), and the latest (``last.ckpt``) to resume from
        ModelCheckpoint(
            dirpath=stage_dir / "checkpoints",
            filename="step{step}",
            every_n_epochs=1,
            save_on_train_epoch_end=False,
            save_top_k=1,
            monitor="val/loss",
            auto_insert_metric_name=False,
        ),
        ModelCheckpoint(
            dirpath=stage_dir / "checkpoints",
            filename="last",
            every_n_epochs=1,
            save_on_train_epoch_end=False,
            save_top_k=1,
            enable_version_counter=False,
        ),
        OnExceptionCheckpoint(dirpath=stage_dir / "checkpoints", filename="interrupted"),
    ]
    if settings.early_stopping_patience:
        if (
            stage.schedule == "plateau"
            and settings.early_stopping_patience <= stage.plateau_patience
        ):
            log.warning(
                "stage %s: early_stopping_patience (%d) is not above plateau_patience (%d), so the "
                "stage stops before its learning rate ever drops",
                stage.stage,
                settings.early_stopping_patience,
                stage.plateau_patience,
            )
        callbacks.append(EarlyStopping("val/loss", patience=settings.early_stopping_patience))
    return L.Trainer(
        default_root_dir=stage_dir,
        max_steps=stage.max_steps,
        max_epochs=-1,
        val_check_interval=interval,
        check_val_every_n_epoch=None,
        limit_val_batches=settings.limit_val_batches,
        gradient_clip_val=settings.gradient_clip_val,
        accelerator=settings.accelerator,
        devices=settings.devices,
        strategy=settings.strategy,
        precision=cast("_PRECISION_INPUT", settings.precision),  # Lightning checks the value
        log_every_n_steps=settings.log_every_n_steps,
        logger=TensorBoardLogger(out / "logs", name=stage_dir.name, version=""),
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=progress and settings.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        # validation under no_grad, not inference mode: CompressAI's MaskedConv2d re-assigns its
        # weight in forward, which inference mode would turn into a tensor no later stage can train
        inference_mode=False,
    )


def fit_stage(
    trainer: L.Trainer,
    module: CodecModule,
    train_loader: DataLoader,
    val_loader: DataLoader,
    checkpoint: Path | None,
    stage: str,
) -> None:
    """``trainer.fit`` that turns Ctrl-C into :class:`TrainingInterrupted`.

    Lightning answers a KeyboardInterrupt by saving (OnExceptionCheckpoint), ignoring further
    SIGINTs and calling ``sys.exit(1)``; the SIGINT handler is restored here.
    """
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main_thread else None
    try:
        with warnings.catch_warnings():
            # without a checkpoint Lightning looks for one itself and says it found none
            warnings.filterwarnings("ignore", message=r".*ckpt_path.*")
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
            # plateau: there is no val/loss before the first validation (stepped at validations)
            warnings.filterwarnings("ignore", message=r"ReduceLROnPlateau conditioned on metric")
            trainer.fit(module, train_loader, val_loader, ckpt_path=checkpoint)
    except SystemExit:
        if trainer.interrupted:
            raise TrainingInterrupted(
                f"training was interrupted in stage {stage}; continue it with --resume."
            ) from None
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    if trainer.interrupted:
        raise TrainingInterrupted(
            f"training was interrupted in stage {stage}; continue it with --resume."
        )
