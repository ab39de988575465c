"""Run an experiment config: stages in order, atomic checkpoints, resume, and model export.

``train(config, out)`` trains every stage of ``config.stages`` (the base layer first, then the
enhancement layer on the frozen base), writes Lightning checkpoints under
``out/stage<i>-<name>/checkpoints`` (atomically), TensorBoard logs under ``out/logs`` and, at the
end, the self-describing model file ``out/model.ckpt`` (one stage's Lightning ``Trainer``:
``trainer.py``; callbacks: ``callbacks.py``; RD sweeps: ``sweep.py``). Under ``torchrun`` the
same call trains data-parallel (gloo on CPU, NCCL on GPU) with no code change.

Every stage validates on ``data.val`` every ``trainer.val_check_interval`` steps and after its
last step; a checkpoint is written at each validation and the best one by ``val/loss`` (the
stage's RD loss) is kept. A stage ends with the weights of its best validation, not its last
iterate: they go on to the next stage and into ``model.ckpt``, whose provenance names the step
(``metrics.<stage>.best_step``, ``best_val_loss``, beside ``last_step`` and ``last_val_loss``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from hmcodec import __version__
from hmcodec.checkpoint import LoadedModel, load_model, save_model
from hmcodec.codec.interface import Codec
from hmcodec.codec.scalable import build_codec
from hmcodec.data import build_dataset, collate
from hmcodec.errors import ConfigError
from hmcodec.io import atomic_torch_save, atomic_write
from hmcodec.train.callbacks import training_threads
from hmcodec.train.config import ExperimentConfig
from hmcodec.train.module import CodecModule
from hmcodec.train.trainer import TrainingInterrupted, build_trainer, finish_stage, fit_stage

__all__ = ["MODEL_FILE", "TrainingInterrupted", "process_rank", "train"]

log = logging.getLogger("hmcodec")

MODEL_FILE = "model.ckpt"
#: the base layer's modules (with the task head) that ``init_from`` copies.
BASE_MODULES = (
    "base_analysis",
    "base_gain",
    "base_entropy",
    "base_synthesis",
    "task",
    "recon_head",
)


def _loader(spec: dict[str, Any], batch_size: int, workers: int, shuffle: bool) -> DataLoader:
    return DataLoader(
        build_dataset(spec),
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        collate_fn=collate,
        drop_last=shuffle,
        persistent_workers=workers > 0,
    )


def _latest_checkpoint(directory: Path) -> Path | None:
    candidates = [p for p in directory.glob("*.ckpt") if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def _final_summary(stage_dir: Path) -> dict[str, Any] | None:
    """``final.json`` of a stage that finished (``None`` if it never did)."""
    try:
        summary = json.loads((stage_dir / "final.json").read_text())
        int(summary["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return summary if isinstance(summary, dict) else None


def _stage_done(stage_dir: Path, max_steps: int) -> bool:
    """Whether a stage finished its ``max_steps``, or stopped early (which is final)."""
    summary = _final_summary(stage_dir)
    return summary is not None and (
        int(summary["steps"]) >= max_steps or bool(summary.get("stopped_early"))
    )


def _load_finished_stage(codec: Codec, finished: Path) -> None:
    """The weights a finished stage exported. A stage trained by a codec without the
    training-only auxiliary branch (an arm that reuses another's task model) lacks that
    branch's keys, which keep their fresh initialisation; any other mismatch is an error."""
    state = torch.load(finished, map_location="cpu", weights_only=True)
    own = codec.state_dict()
    missing = [k for k in own if k not in state and not k.startswith("auxiliary.")]
    unexpected = [k for k in state if k not in own]
    misshapen = [k for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or misshapen:
        raise ConfigError(
            f"{finished} does not fit this config's codec (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}, other shapes {misshapen[:3]}); train that stage again or choose "
            "another --out."
        )
    codec.load_state_dict(state, strict=False)


def process_rank() -> int:
    """This process's rank in a data-parallel run: ``RANK`` (torchrun) or, in the processes that
    Lightning's own launcher starts (which set only ``LOCAL_RANK`` on one node), ``LOCAL_RANK``."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))


def _load_base(codec: Codec, model: LoadedModel) -> None:
    """Copy the base layer (and task head) of a trained model into ``codec``."""
    prefixes = tuple(f"{name}." for name in BASE_MODULES)
    state = {k: v for k, v in model.codec.state_dict().items() if k.startswith(prefixes)}
    missing = [k for k in codec.state_dict() if k.startswith(prefixes) and k not in state]
    if missing:
        raise ConfigError(f"{model.name} has no base layer matching this model's architecture.")
    codec.load_state_dict(state, strict=False)


def _load_enhancement(codec: Codec, model: LoadedModel) -> None:
    """Copy the enhancement layer of a trained model with the same enhancement architecture."""
    state = {k: v for k, v in model.codec.state_dict().items() if k.startswith("enhancement.")}
    weights = {k: p.shape for k, p in codec.named_parameters() if k.startswith("enhancement.")}
    keys = {k for k in codec.state_dict() if k.startswith("enhancement.")}
    if set(state) != keys or any(state[k].shape != shape for k, shape in weights.items()):
        raise ConfigError(f"{model.name} has no enhancement layer matching this model's.")
    codec.load_state_dict(state, strict=False)


def train(
    config: ExperimentConfig,
    out: str | os.PathLike[str],
    resume: bool = False,
    progress: bool = True,
    shared: dict[int, Path] | None = None,
    warm_start: Path | None = None,
) -> Path:
    """Train every stage of ``config`` into ``out``; returns the exported model file.

    ``shared`` maps stage indices to finished stage folders of another run that are reused as
    they are (an RD sweep's common base); ``warm_start`` is a state dict file that initialises
    the codec before its first stage to train (the sweep's lowest-compression point).
    Training runs on :func:`training_threads` intra-op threads (restored afterwards).
    """
    threads = training_threads(config.trainer)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(config, Path(out), resume, progress, shared or {}, warm_start)
    finally:
        torch.set_num_threads(previous)


def _train(
    config: ExperimentConfig,
    out: Path,
    resume: bool,
    progress: bool,
    shared: dict[int, Path],
    warm_start: Path | None,
) -> Path:
    shared = shared or {}
    if not log.isEnabledFor(logging.DEBUG):  # Lightning resets its level when imported
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    first_rank = process_rank() == 0
    if first_rank and not resume and out.exists() and any(out.iterdir()):
        raise ConfigError(
            f"{out} already holds a training run; pass --resume to continue it "
            "or choose another --out."
        )
    L.seed_everything(config.seed, workers=True, verbose=False)
    codec = build_codec(config.model)
    data = config.data
    batch_size, workers = int(data.get("batch_size", 8)), int(data.get("num_workers", 0))
    train_loader = _loader(data["train"], batch_size, workers, shuffle=True)
    val_loader = _loader(data.get("val", data["train"]), batch_size, workers, shuffle=False)
    out.mkdir(parents=True, exist_ok=True)  # only once the config has proved buildable
    started = time.time()
    metrics: dict[str, dict[str, Any]] = {}
    validations: dict[str, list[dict[str, float]]] = {}
    warm = warm_start
    for index, stage in enumerate(config.stages):
        stage_dir = shared.get(index, out / f"stage{index}-{stage.stage}")
        finished = stage_dir / "final.pt"
        if _stage_done(stage_dir, stage.max_steps) or (index in shared and finished.is_file()):
            _load_finished_stage(codec, finished)
            log.info("stage %d (%s) already finished; skipped", index, stage.stage)
            summary = _final_summary(stage_dir)
            if summary is not None and index not in shared:
                metrics[stage_dir.name] = summary.get("metrics", {"steps": summary["steps"]})
                validations[stage_dir.name] = summary.get("validations", [])
            continue
        if warm is not None:
            base_prefixes = tuple(
                f"{n}." for n, m in codec.named_children() if m in codec.base_modules()
            )
            state = torch.load(warm, map_location="cpu", weights_only=True)
            if stage.stage == "enhancement":  # keep the (shared) base that was just loaded
                state = {k: v for k, v in state.items() if not k.startswith(base_prefixes)}
            codec.load_state_dict(state, strict=False)
            warm = None
        if stage.init_from:
            _load_base(codec, load_model(stage.init_from))
        if stage.enhancement_from:
            _load_enhancement(codec, load_model(stage.enhancement_from))
        module = CodecModule(codec, stage)
        trainer = build_trainer(config, stage, stage_dir, out, progress)
        checkpoint = _latest_checkpoint(stage_dir / "checkpoints") if resume else None
        if checkpoint:
            log.info("resuming stage %d (%s) from %s", index, stage.stage, checkpoint)
        fit_stage(trainer, module, train_loader, val_loader, checkpoint, f"{index} ({stage.stage})")
        stage_metrics, history = finish_stage(trainer, module, val_loader)
        metrics[stage_dir.name], validations[stage_dir.name] = stage_metrics, history
        if trainer.is_global_zero:
            log.info(
                "stage %d (%s): exporting step %s of %d (val/loss %s)",
                index,
                stage.stage,
                stage_metrics.get("best_step", "?"),
                trainer.global_step,
                f"{stage_metrics['best_val_loss']:.5g}"
                if "best_val_loss" in stage_metrics
                else "?",
            )
        if trainer.is_global_zero:
            atomic_torch_save(codec.state_dict(), finished)
            final = json.dumps(
                {
                    "steps": trainer.global_step,
                    "stopped_early": stage_metrics["stopped_early"],
                    "metrics": stage_metrics,
                    "validations": history,
                }
            )

            def write_final(path: Path, text: str = final) -> None:
                path.write_text(text)

            atomic_write(stage_dir / "final.json", write_final)
        trainer.strategy.barrier()
    model_path = out / MODEL_FILE
    if first_rank:
        save_model(
            codec,
            model_path,
            provenance={
                "hmcodec": __version__,
                "config": config.as_dict(),
                "command": " ".join(sys.argv),
                "metrics": metrics,
                "validations": validations,
                "threads": training_threads(config.trainer) or torch.get_num_threads(),
                "training_seconds": round(time.time() - started, 1),
            },
        )
    return model_path
