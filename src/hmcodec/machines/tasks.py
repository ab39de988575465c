"""Task models for the coding-for-machines paradigms (Harell et al.).

* ``segmentation-resnet-tiny``: a small residual FCN (stride 4, dilated later blocks) whose
  named stages (``stem``, ``layer1``…``layer4``, ``classifier``) are cut points at CPU scale;
* ``full-input``: a task model run on a decoded image (full-input coding, Fig. 1a), trained with
  the unsupervised proxy (``objective: reconstruction``, RMSE on 0–255) or through the task
  (``objective: task``);
* :func:`load_task_weights`: pretrained task weights from a state dict, a torchvision weights
  name or an hmcodec model file (its task head), so every paradigm can share one task model;
  :func:`load_task_model`: a model file's task head or a named head (``analyze``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmcodec.errors import ConfigError, ModelError
from hmcodec.losses import rmse_255
from hmcodec.tasks import TASKS, TaskHead, TaskMetric, build_task
from hmcodec.tasks.segmentation import SegmentationTask
from hmcodec.tasks.weights import evaluating, load_weights

MODEL_FORMAT = "hmcodec-model"  # hmcodec.checkpoint.MODEL_FORMAT (not imported: no cycle)


class ResidualBlock(nn.Module):
    """3×3 residual block (BatchNorm, ReLU) with a stride or a dilation, as torchvision's
    ``BasicBlock`` but dilatable."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        pad = dilation
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, pad, dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, pad, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip: nn.Module = nn.Identity()
        if cin != cout or stride != 1:
            self.skip = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class TinyResNetSegmenter(nn.Module):
    """stem (stride 1) → layer1 (2) → layer2 (4) → layer3, layer4 (4, dilation 2, 4) →
    classifier (logits at stride 4; the head upsamples them to the image)."""

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        w1, w2 = width * 3 // 2, width * 2
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.layer1 = ResidualBlock(width, w1, stride=2)
        self.layer2 = ResidualBlock(w1, w2, stride=2)
        self.layer3 = ResidualBlock(w2, w2, dilation=2)
        self.layer4 = ResidualBlock(w2, w2, dilation=4)
        self.classifier = nn.Conv2d(w2, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.classifier(self.layer4(self.layer3(x)))


@TASKS.register("segmentation-resnet-tiny")
class TinyResNetSegmentationTask(SegmentationTask):
    """ShapesWorld segmentation with :class:`TinyResNetSegmenter` (cut points at CPU scale)."""

    name = "segmentation-resnet-tiny"

    def __init__(
        self, num_classes: int, label_names: list[str] | None = None, width: int = 16
    ) -> None:
        self.width = width
        super().__init__(num_classes, label_names)

    def build_network(self) -> nn.Module:
        return TinyResNetSegmenter(self.num_classes, self.width)

    def config(self) -> dict[str, Any]:
        return {"width": self.width, **super().config()}


@contextlib.contextmanager
def frozen_in_eval(module: nn.Module) -> Iterator[None]:
    """Run ``module`` in eval mode for the block if none of its parameters trains.

    A frozen task model keeps its BatchNorm statistics, whatever mode the trainer left it in
    (Lightning 2.6 never calls ``CodecModule.train``, which would put frozen modules in eval).
    """
    if any(p.requires_grad for p in module.parameters()):
        yield
    else:
        with evaluating(module):
            yield


# ------------------------------------------------------------------------------ weights
def _task_state(payload: dict[str, Any]) -> dict[str, Tensor]:
    """The plain task head's state dict inside an hmcodec model file, whatever wraps it.

    ``task.`` is the codec's head; ``model.`` a wrapper's inner head (full-input, split); a
    split head's ``network.front.segment.``/``network.back.segment.`` hold the network's own
    keys, which are merged back.
    """
    state = {k[5:]: v for k, v in payload["state_dict"].items() if k.startswith("task.")}
    while state and all(k.startswith("model.") for k in state):
        state = {k[6:]: v for k, v in state.items()}
    merged: dict[str, Tensor] = {}
    for key, value in state.items():
        for part in ("network.front.segment.", "network.back.segment.", "network.mid.segment."):
            if key.startswith(part):
                key = "network." + key[len(part) :]
                break
        if key.startswith("network.front.normalize.") or key.startswith("normalize."):
            continue
        merged[key] = value
    return merged


def load_task_weights(head: TaskHead, weights: str | None) -> TaskHead:
    """Load ``weights`` into ``head`` strictly; returns ``head``.

    ``weights`` is an hmcodec model file (its task head's weights, e.g. the output of a
    ``stage: task`` run), a state-dict file of the head's ``network`` or a torchvision weights
    name (see :mod:`hmcodec.tasks.weights`); None keeps the head as it is.
    """
    if weights is None:
        return head
    path = Path(weights).expanduser()
    payload: Any = None
    if path.is_file():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # unreadable files are the user's input
            raise ModelError(f"task weights {str(path)!r} could not be read: {error}") from None
    if isinstance(payload, dict) and payload.get("format") == MODEL_FORMAT:
        state = _task_state(payload)
        try:
            missing, unexpected = head.load_state_dict(state, strict=False)
        except RuntimeError as error:
            raise ModelError(f"the task head of {path} does not match: {error}") from None
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected or not state:
            raise ModelError(
                f"the task head of {path} does not match this task model ({len(missing)} "
                f"missing keys {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]})."
            )
        if not head.label_names and payload.get("label_names"):
            head.label_names = list(payload["label_names"])
        return head
    load_weights(getattr(head, "network", head), weights)
    return head


def build_pretrained_task(spec: dict[str, Any]) -> TaskHead:
    """A head from ``{"name": ..., "weights": ..., **kwargs}``; ``weights`` may also be an
    hmcodec model file, which heads that take no ``weights`` argument get here."""
    spec = dict(spec)
    weights = spec.pop("weights", None)
    head = build_task(spec)
    return load_task_weights(head, weights)


def _inner_spec(task: dict[str, Any]) -> dict[str, Any]:
    """The plain task model of a codec's task config (full-input wraps it)."""
    spec = dict(task)
    while spec.get("name") == "full-input":
        spec = dict(spec["task"])
    return {k: v for k, v in spec.items() if k not in ("weights", "backbone_weights")}


def load_task_model(model: str, options: list[str], weights: str | None) -> TaskHead:
    """MODEL of ``hmcodec analyze appropriateness``: the task head of an hmcodec model file
    (whatever paradigm wraps it), or the head named ``model`` built with ``options``
    (``KEY=VALUE``, YAML values) and loaded with ``weights``."""
    import yaml

    import hmcodec.machines  # noqa: F401  (registers the heads of this package)

    path = Path(model)
    if path.is_file():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # unreadable files are the user's input
            raise ModelError(f"{path} is not a readable model file ({error}).") from None
        if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
            raise ModelError(
                f"{path} is not an hmcodec model file; name a task head and pass the file "
                "with --weights."
            )
        head = build_task(_inner_spec(payload["config"]["task"]))
        return load_task_weights(head, str(path))
    if model not in TASKS:
        raise ConfigError(f"MODEL {model!r} is neither a file nor a task head ({TASKS.names()}).")
    spec: dict[str, Any] = {"name": model}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--task-option {item!r} is not KEY=VALUE.")
        spec[key] = yaml.safe_load(value)
    return load_task_weights(build_task(spec), weights)


# ---------------------------------------------------------------------------- full input
OBJECTIVES = ("reconstruction", "task")


class WrappedTask(TaskHead):
    """A head around another task model ``self.model``: predictions, metric and saved outputs
    are that model's own; subclasses decide what the codec's ``loss`` is."""

    model: TaskHead

    def predict(self, image_like: Tensor) -> list[Any]:
        return self.model.predict(image_like)

    def metric(self) -> TaskMetric:
        return self.model.metric()

    def save_prediction(self, prediction: Any, prefix: str | Path) -> list[Path]:
        return self.model.save_prediction(prediction, prefix)


@TASKS.register("full-input")
class FullInputTask(WrappedTask):
    """A task model on a decoded image: full-input coding (Harell et al., Fig. 1a).

    With ``objective: reconstruction`` the loss the codec sees is the image's RMSE (0–255):
    the unsupervised proxy, an image codec that knows nothing of the task. With
    ``objective: task`` it is the task model's own loss on the decoded image: the supervised
    codec (Theorem 2: the supervised codec's rate is never above the proxy's at equal task
    distortion). Predictions, metric and saved outputs are always the task model's.
    ``weights`` (pretrained task model) is applied when the head is built.
    """

    name = "full-input"

    def __init__(
        self,
        task: dict[str, Any],
        objective: str = "task",
        weights: str | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ModelError(
                f"full-input objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}."
            )
        model = build_task(task)
        load_task_weights(model, weights)
        super().__init__(label_names or model.label_names)
        self.model = model
        self.task_spec = dict(task)
        self.objective = objective
        self.weights = weights
        self.target_keys = model.target_keys

    def loss(self, image_like: Tensor, batch: dict[str, Any]) -> Tensor:
        if self.objective == "reconstruction":
            return rmse_255(batch["image"], image_like)
        with frozen_in_eval(self.model):
            return self.model.loss(image_like, batch)

    def config(self) -> dict[str, Any]:
        return {
            "task": self.task_spec,
            "objective": self.objective,
            "weights": self.weights,
            **super().config(),
        }
