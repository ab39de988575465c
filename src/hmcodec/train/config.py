"""Experiment configs: YAML files in ``configs/`` with ``key.sub=value`` command-line overrides.

An experiment is a config, never a copied script: ``model`` (a :class:`CodecConfig`), ``data``
(dataset specs for ``train``/``val``, batch size, workers), ``stages`` (base, then enhancement,
each with its λ, β, learning rate and step budget), ``trainer`` (Lightning settings) and an
optional ``sweep`` of λ values for rate–distortion curves.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from hmcodec.codec.scalable import CodecConfig
from hmcodec.errors import ConfigError

STAGES = ("task", "base", "enhancement")
SCHEDULES = ("cosine", "plateau", "constant")
PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@dataclass
class StageConfig:
    """One training stage.

    ``task``: the task head alone on uncompressed images (a pretrained task model, and the
    uncompressed reference); ``base``: λ_b·d_b + R_b + β·‖X̂ − X‖ (``freeze_task`` keeps the task
    model fixed, as when it is pretrained); ``enhancement``: λ_e·d_e + R_e on the frozen base.

    Learning rate: a linear warm-up from ``lr / warmup_steps`` to ``lr`` over ``warmup_steps``
    (default 5 % of ``max_steps``, at most 1,000; 0 disables it), then ``schedule``:
    ``cosine`` (the default) decays to ``min_lr`` at ``max_steps``; ``plateau`` multiplies the
    rate by ``plateau_factor`` after ``plateau_patience`` validations without a lower
    ``val/loss``, never below ``min_lr``; ``constant`` keeps ``lr``. ``min_lr`` defaults to
    ``lr / 100``.
    """

    stage: str
    lmbda: float = 1.0
    beta: float = 0.0
    #: β relative to the task term. Paper 001 writes L_b = λ_b·d_b + R + β·‖X̂ − X‖ with
    #: β ≪ λ_b; the authors' code (``compatible-representations``) writes α·R + d_b + β·‖X̂ − X‖
    #: and sweeps α alone, which is R + λ_b·d_b + β·λ_b·‖X̂ − X‖ here (λ_b = 1/α): with this
    #: option the reward keeps its weight against the task while λ_b sweeps the rate.
    beta_relative: bool = False
    lr: float = 1e-4
    max_steps: int = 1000
    init_from: str | None = None  # a model file whose base layer is loaded (and frozen)
    #: a model file whose enhancement layer starts this stage, e.g. a reconstruction layer on
    #: the same base before the layer learns a second task (the task head itself starts fresh).
    enhancement_from: str | None = None
    freeze_task: bool = False
    #: the base's operating point during an ``enhancement`` stage over a variable-rate base
    #: (default: drawn from the base's range with every batch, like a variable-rate layer's λ).
    base_lmbda: float | None = None
    schedule: str = "cosine"
    warmup_steps: int | None = None
    min_lr: float | None = None
    plateau_factor: float = 0.5
    plateau_patience: int = 2  # validations without improvement before the rate drops

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ConfigError(f"unknown stage {self.stage!r}; stages are {', '.join(STAGES)}.")
        if self.max_steps < 1 or self.lr <= 0 or self.lmbda < 0 or self.beta < 0:
            raise ConfigError(
                f"stage {self.stage}: max_steps, lr must be positive and lmbda, beta non-negative."
            )
        if self.base_lmbda is not None and not self.base_lmbda > 0:
            raise ConfigError(f"stage {self.stage}: base_lmbda must be positive.")
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"stage {self.stage}: unknown schedule {self.schedule!r}; "
                f"schedules are {', '.join(SCHEDULES)}."
            )
        if self.warmup_steps is not None and not 0 <= self.warmup_steps < self.max_steps:
            raise ConfigError(
                f"stage {self.stage}: warmup_steps must be at least 0 and below max_steps."
            )
        if self.min_lr is not None and not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"stage {self.stage}: min_lr must lie between 0 and lr.")
        if not 0 < self.plateau_factor < 1 or self.plateau_patience < 0:
            raise ConfigError(
                f"stage {self.stage}: plateau_factor must lie in (0, 1) and plateau_patience "
                "be non-negative."
            )

    @property
    def effective_beta(self) -> float:
        """The reconstruction reward's weight in the loss: β, or β·λ_b if ``beta_relative``."""
        return self.beta_at(self.lmbda)

    def beta_at(self, lmbda: float) -> float:
        """The reward's weight at a λ_b drawn by a variable-rate base (β, or β·λ_b)."""
        return self.beta * lmbda if self.beta_relative else self.beta

    @property
    def warmup(self) -> int:
        """Warm-up steps: ``warmup_steps``, or by default 5 % of ``max_steps`` (at most 1,000)."""
        if self.warmup_steps is not None:
            return self.warmup_steps
        return min(self.max_steps // 20, 1000)

    @property
    def final_lr(self) -> float:
        """The lowest learning rate of the schedule: ``min_lr``, by default ``lr / 100``."""
        return self.lr / 100 if self.min_lr is None else self.min_lr


@dataclass
class TrainerConfig:
    """Lightning Trainer settings (Adam, gradient clipping 1.0 and early stopping as the papers).

    Validation runs every ``val_check_interval`` steps (and after the last step) on
    ``limit_val_batches`` batches of ``data.val``; its ``val/loss`` picks the exported weights
    and drives the ``plateau`` schedule and early stopping (``early_stopping_patience``
    validations without a lower ``val/loss`` end the stage; 0 disables it). ``threads`` is
    torch's intra-op thread count in every training process; by default 1 on CPU (more threads
    per process collapse on a shared machine: use ``devices: 2`` with ``strategy: ddp`` for two
    cores) and torch's own count on an accelerator.
    """

    val_check_interval: int = 200
    limit_val_batches: int = 8
    gradient_clip_val: float = 1.0
    early_stopping_patience: int = 0  # validations without improvement; 0 disables
    threads: int | None = None
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 25
    progress_bar: bool = True

    def __post_init__(self) -> None:
        threads = self.threads
        if threads is not None and (
            not isinstance(threads, int) or isinstance(threads, bool) or threads < 1
        ):
            raise ConfigError("trainer.threads must be a positive whole number.")
        if self.val_check_interval < 1 or self.early_stopping_patience < 0:
            raise ConfigError(
                "trainer.val_check_interval must be positive and "
                "trainer.early_stopping_patience non-negative."
            )


@dataclass
class ExperimentConfig:
    name: str
    model: CodecConfig
    data: dict[str, Any]
    stages: list[StageConfig]
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = 0
    sweep: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.source)


def _section(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in {where}; known: {', '.join(sorted(known))}."
        )
    try:
        return cls(**values)
    except TypeError as error:
        raise ConfigError(f"{where}: {error}.") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key.sub=value.")
    key, value = text.split("=", 1)
    return key.split("."), yaml.safe_load(value)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set ``a.b.c=value`` (YAML value) in a nested mapping; list items by index (stages.0.lr)."""
    raw = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node: Any = raw
        for part in path[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = path[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return raw


def resolve_config_path(path: str | Path) -> Path:
    """A config file path, or the name of a config shipped with hmcodec (e.g. ``demo``)."""
    path = Path(path)
    if path.is_file():
        return path
    packaged = PACKAGED_CONFIGS / f"{path.stem}.yaml"
    if packaged.is_file() and path.parent == Path("."):
        return packaged
    raise ConfigError(f"config file {path} does not exist.")


def build_config(raw: dict[str, Any], name: str = "experiment") -> ExperimentConfig:
    if not isinstance(raw, dict):
        raise ConfigError("a config must be a YAML mapping.")
    for key in ("model", "data", "stages"):
        if key not in raw:
            raise ConfigError(f"the config has no '{key}' section.")
    unknown = sorted(set(raw) - {"name", "model", "data", "stages", "trainer", "seed", "sweep"})
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {', '.join(unknown)} in the config.")
    if not isinstance(raw["model"], dict):
        raise ConfigError("model must be a mapping.")
    stages = raw["stages"]
    if not isinstance(stages, list) or not stages:
        raise ConfigError("stages must be a non-empty list.")
    data = raw["data"]
    if not isinstance(data, dict) or "train" not in data:
        raise ConfigError("data must be a mapping with at least a 'train' dataset.")
    return ExperimentConfig(
        name=str(raw.get("name", name)),
        model=CodecConfig.from_dict(raw["model"]),
        data=data,
        stages=[_section(StageConfig, s, f"stages[{i}]") for i, s in enumerate(stages)],
        trainer=_section(TrainerConfig, raw.get("trainer", {}), "trainer"),
        seed=int(raw.get("seed", 0)),
        sweep=raw.get("sweep"),
        source=copy.deepcopy(raw),
    )


def merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``child`` onto ``parent``: mappings merge, everything else replaces.

    A mapping that names another thing (a different ``name``, e.g. another task head) replaces
    the parent's mapping instead of merging into it.
    """
    merged = copy.deepcopy(parent)
    for key, value in child.items():
        inherited = merged.get(key)
        if (
            isinstance(value, dict)
            and isinstance(inherited, dict)
            and value.get("name", inherited.get("name")) == inherited.get("name")
        ):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_config(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML config; ``inherit: other.yaml`` (relative to it) is read first and merged."""
    if path.resolve() in seen:
        raise ConfigError(f"{path} inherits from itself.")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML ({error}).".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} is not a YAML mapping.")
    parent = raw.pop("inherit", None)
    if parent is None:
        return raw
    return merge(read_config(path.parent / str(parent), (*seen, path.resolve())), raw)


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    path = resolve_config_path(path)
    return build_config(apply_overrides(read_config(path), overrides or []), name=path.stem)
