"""Lightning callbacks and plugins of a training run: atomic checkpoints, the thread policy,
and the validation record that picks each stage's exported weights (``hmcodec.train.run``)."""

from __future__ import annotations

import copy
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn

from hmcodec.io import atomic_torch_save
from hmcodec.train.config import TrainerConfig
from hmcodec.train.module import CodecModule


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written to a temporary file and renamed into place."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None):
        atomic_torch_save(checkpoint, path)


def training_threads(settings: TrainerConfig) -> int | None:
    """torch's intra-op thread count per training process: ``trainer.threads``, else 1 on CPU
    (``None``: torch's own count, on an accelerator)."""
    if settings.threads is not None:
        return settings.threads
    accelerator = str(settings.accelerator).lower()
    on_cpu = accelerator == "cpu" or (
        accelerator == "auto"
        and not torch.cuda.is_available()
        and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available())
    )
    return 1 if on_cpu else None


class ThreadPolicy(Callback):
    """Sets torch's thread count in every process of a fit, after Lightning's launchers (which
    set their own count in DDP processes when ``OMP_NUM_THREADS`` is unset)."""

    def __init__(self, threads: int | None) -> None:
        self.threads = threads

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.threads is not None:
            torch.set_num_threads(self.threads)


class Validations(Callback):
    """The validation record of a stage, checkpointed with it (so it survives ``--resume``).

    At the end of each validation (before that validation's checkpoint is written: Lightning runs
    checkpoint callbacks last) it appends ``{"step", "val/...": ...}`` and steps the ``plateau``
    schedule with ``val/loss``, so the checkpoint holds the scheduler state that saw it.
    """

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        if "val/loss" not in metrics:
            return
        step = trainer.global_step
        self.history = [h for h in self.history if h["step"] != step]
        self.history.append({"step": step, **metrics})
        if trainer.state.fn == TrainerFn.FITTING and isinstance(pl_module, CodecModule):
            pl_module.step_plateau(metrics["val/loss"])

    def state_dict(self) -> dict[str, Any]:
        return {"history": copy.deepcopy(self.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = copy.deepcopy(state_dict.get("history", []))
