"""The task-head contract: a vision model that reads the base layer's synthesis output.

The conditional/residual and task-compatible papers feed the base synthesis output g_b(ŷ_b) to
a task network "as if it were an image"; a head therefore takes an image-like tensor
(N×3×H×W) and owns its loss, its post-processing, its metric and how its output is saved.
Every head reads only its own keys of the sample schema (DESIGN.md §3).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmcodec.errors import ConfigError
from hmcodec.registry import Registry
from hmcodec.tasks.weights import evaluating

TASKS: Registry[TaskHead] = Registry("task")


class TaskMetric(ABC):
    """Accumulates per-image predictions against targets; ``compute`` returns named floats."""

    #: the key of ``compute()`` that RD curves plot against bpp (e.g. "miou").
    primary: str
    #: whether a larger ``primary`` is better (False for errors such as depth RMSE).
    higher_is_better: bool = True

    @abstractmethod
    def update(self, predictions: list[Any], batch: dict[str, Any]) -> None: ...

    @abstractmethod
    def compute(self) -> dict[str, float]: ...


class TaskHead(nn.Module, ABC):
    """A vision task on image-like input; subclasses are registered in ``TASKS`` by name."""

    #: registry name, also written into checkpoints.
    name: str = ""
    #: sample-schema keys this task reads.
    target_keys: tuple[str, ...] = ()

    def __init__(self, label_names: list[str] | None = None) -> None:
        super().__init__()
        self.label_names = list(label_names or [])

    @abstractmethod
    def loss(self, image_like: Tensor, batch: dict[str, Any]) -> Tensor:
        """Training loss d_b (or d_e) of the task on ``image_like`` against ``batch`` targets."""

    @abstractmethod
    def predict(self, image_like: Tensor) -> list[Any]:
        """Per-image predictions in the sample schema's form (e.g. a long H×W label map)."""

    @abstractmethod
    def metric(self) -> TaskMetric:
        """A fresh metric accumulator for this task."""

    @abstractmethod
    def save_prediction(self, prediction: Any, prefix: str | Path) -> list[Path]:
        """Write one prediction next to ``prefix`` (PNG/JSON); returns the written paths."""

    def shallow_copy(self) -> TaskHead:
        """A fresh, shallow head of the same task: the recogniser's first stages and an output
        layer (the auxiliary branch of arXiv 2402.08267 with ``auxiliary_branch: shallow``)."""
        raise ConfigError(
            f"task {self.name} has no shallow form; use auxiliary_branch: copy with it."
        )

    def config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this head through ``TASKS.build``."""
        return {"label_names": self.label_names}


class NetworkTaskHead(TaskHead):
    """A head around one network built by :meth:`build_network`: the constructor shared by the
    classification, segmentation and depth heads (``num_classes`` is None for regression)."""

    def __init__(self, num_classes: int | None, label_names: list[str] | None = None) -> None:
        super().__init__(label_names)
        self.num_classes = num_classes
        self.network = self.build_network()

    @abstractmethod
    def build_network(self) -> nn.Module:
        """The task network, built after ``num_classes`` and the subclass's options are set."""

    def config(self) -> dict[str, Any]:
        classes = {} if self.num_classes is None else {"num_classes": self.num_classes}
        return {**classes, **super().config()}


class LogitsTaskHead(NetworkTaskHead):
    """Classes from N×C[×H×W] logits: cross-entropy against ``target_keys[0]`` for training,
    the arg-max over C for prediction (image classification and semantic segmentation)."""

    #: targets with this value are left out of the loss (cross_entropy's own default: none).
    ignore_index: int = -100

    def __init__(self, num_classes: int, label_names: list[str] | None = None) -> None:
        super().__init__(num_classes, label_names)
        self.num_classes: int = num_classes

    def loss(self, image_like: Tensor, batch: dict[str, Any]) -> Tensor:
        target = batch[self.target_keys[0]]
        return F.cross_entropy(self(image_like), target, ignore_index=self.ignore_index)

    @torch.no_grad()
    def predict(self, image_like: Tensor) -> list[Tensor]:
        """One int64 label (map) per image, computed in eval mode (BatchNorm left untouched)."""
        with evaluating(self):
            return list(self(image_like).argmax(1))


def build_task(spec: dict[str, Any]) -> TaskHead:
    """Build a head from a config mapping ``{"name": ..., **kwargs}``."""
    spec = dict(spec)
    name = spec.pop("name")
    return TASKS.build(name, **spec)


def batch_to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Move the tensors of a collated batch to ``device`` (lists of tensors too)."""
    moved: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, Tensor):
            moved[key] = value.to(device)
        elif isinstance(value, list):
            moved[key] = [v.to(device) if isinstance(v, Tensor) else v for v in value]
        else:
            moved[key] = value
    return moved


def dense_output(network: nn.Module, image_like: Tensor) -> Tensor:
    """A dense network's N×C×H×W output at the input size (torchvision's ``{"out": …}`` unwrapped,
    bilinear up-sampling where the network predicts at a lower resolution)."""
    output = network(image_like)
    if isinstance(output, dict):
        output = output["out"]
    if output.shape[-2:] != image_like.shape[-2:]:
        output = F.interpolate(
            output, size=image_like.shape[-2:], mode="bilinear", align_corners=False
        )
    return output
