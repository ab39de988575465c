"""Rate–distortion sweeps: one model per λ of a stage, the stages before it shared."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from hmcodec.errors import ConfigError
from hmcodec.train.config import ExperimentConfig
from hmcodec.train.run import train


def sweep_points(config: ExperimentConfig) -> list[tuple[str, ExperimentConfig]]:
    """The configs of an RD sweep, lowest compression (largest λ) first.

    ``sweep: {stage: 1, lmbda: [0.02, 0.05, 0.1]}`` trains one model per λ of that stage; the
    stages before it are trained once and shared.
    """
    sweep = config.sweep or {}
    try:
        index, values = int(sweep.get("stage", len(config.stages) - 1)), list(sweep["lmbda"])
        config.stages[index]
        unknown = set(sweep) - {"stage", "lmbda", "warm_start"}
    except (KeyError, TypeError, ValueError, IndexError):
        raise ConfigError(
            "sweep must be {stage: <stage index>, lmbda: [values...], warm_start: true|false}."
        ) from None
    if unknown:
        raise ConfigError(f"unknown sweep key(s) {', '.join(sorted(unknown))}.")
    if not isinstance(sweep.get("warm_start", True), bool):
        raise ConfigError("sweep.warm_start must be true or false.")
    if not values or len(set(values)) != len(values):
        raise ConfigError("sweep.lmbda must list distinct values.")
    points = []
    for value in sorted(values, reverse=True):
        point = copy.deepcopy(config)
        point.stages[index].lmbda = float(value)
        point.source["stages"][index]["lmbda"] = float(value)
        point.source.pop("sweep", None)
        point.sweep = None
        points.append((f"lmbda-{value:g}", point))
    return points


def train_sweep(
    config: ExperimentConfig,
    out: str | os.PathLike[str],
    resume: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Train every point of ``config.sweep``: the first from scratch, the rest warm-started.

    With ``warm_start: false`` every point trains its sweep stage from the same state (the shared
    earlier stages, or the stage's ``init_from``), so all points get the same training length.
    """
    out = Path(out)
    index = int((config.sweep or {}).get("stage", len(config.stages) - 1))
    warm_start = bool((config.sweep or {}).get("warm_start", True))
    models: list[Path] = []
    first: Path | None = None
    for name, point in sweep_points(config):
        point_dir = out / name
        if first is None:
            models.append(train(point, point_dir, resume=resume, progress=progress))
            first = point_dir
            continue
        shared = {i: first / f"stage{i}-{s.stage}" for i, s in enumerate(point.stages) if i < index}
        warm: Path | None = first / f"stage{index}-{point.stages[index].stage}" / "final.pt"
        if not warm_start:
            warm = None
        models.append(
            train(
                point,
                point_dir,
                resume=resume,
                progress=progress,
                shared=shared,
                warm_start=warm,
            )
        )
    return models
