"""Image classification heads on the base synthesis output (ResNet, as in the papers' baselines).

``classification-resnet18``/``-resnet50`` are torchvision's ResNets fed with ImageNet-normalised
g_b(ŷ_b); ``classification-tiny`` is a small conv net with global pooling for CPU experiments.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from hmcodec.io import atomic_write
from hmcodec.tasks.base import TASKS, LogitsTaskHead, TaskMetric
from hmcodec.tasks.weights import (
    ImageNetNormalize,
    load_weights,
    torchvision_builder,
    weight_categories,
)


def tiny_classifier(num_classes: int, width: int = 32) -> nn.Module:
    """Three strided 3×3 conv blocks (BatchNorm, ReLU), global average pooling, a linear layer."""
    layers: list[nn.Module] = []
    channels = 3
    for index in range(3):
        out = width * 2**index
        layers += [
            nn.Conv2d(channels, out, 3, stride=2, padding=1),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
        ]
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


class ClassificationMetric(TaskMetric):
    """Top-1 accuracy over all images (torchmetrics ``MulticlassAccuracy``, micro average)."""

    primary = "top1"
    higher_is_better = True

    def __init__(self, num_classes: int) -> None:
        from torchmetrics.classification import MulticlassAccuracy  # deferred: slow import

        self.accuracy = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.images = 0

    def update(self, predictions: list[Tensor], batch: dict[str, Any]) -> None:
        if not predictions:
            return
        labels = torch.stack([torch.as_tensor(p).reshape(()) for p in predictions]).cpu()
        self.accuracy.update(labels, batch["label"].cpu())
        self.images += len(predictions)

    def compute(self) -> dict[str, float]:
        if self.images == 0:
            return {"top1": math.nan}
        return {"top1": float(self.accuracy.compute())}


class ClassificationTask(LogitsTaskHead):
    """One label per image, trained with cross-entropy against ``label``."""

    target_keys = ("label",)

    def forward(self, image_like: Tensor) -> Tensor:
        """N×num_classes logits."""
        return self.network(image_like)

    def metric(self) -> ClassificationMetric:
        return ClassificationMetric(self.num_classes)

    def save_prediction(self, prediction: Tensor, prefix: str | Path) -> list[Path]:
        """``<prefix>_class.json``: the label and, when known, its name."""
        label = int(prediction)
        name = self.label_names[label] if label < len(self.label_names) else None
        path = Path(f"{prefix}_class.json")
        text = json.dumps({"label": label, "label_name": name}, indent=2) + "\n"
        atomic_write(path, lambda temp: temp.write_text(text))
        return [path]


@TASKS.register("classification-tiny")
class TinyClassificationTask(ClassificationTask):
    """CPU-scale classification with :func:`tiny_classifier`."""

    name = "classification-tiny"

    def __init__(
        self, num_classes: int, label_names: list[str] | None = None, width: int = 32
    ) -> None:
        self.width = width
        super().__init__(num_classes, label_names)

    def build_network(self) -> nn.Module:
        return tiny_classifier(self.num_classes, self.width)

    def config(self) -> dict[str, Any]:
        return {"width": self.width, **super().config()}


class ResNetClassificationTask(ClassificationTask):
    """A torchvision ResNet; ``weights``: a local file or e.g. ``"ResNet50_Weights.IMAGENET1K_V2"``.

    Without ``label_names``, the categories of torchvision ``weights`` are used.
    """

    builder: ClassVar[Callable[..., nn.Module]]

    def __init__(
        self, num_classes: int, label_names: list[str] | None = None, weights: str | None = None
    ) -> None:
        self.weights = weights
        super().__init__(num_classes, label_names or weight_categories(weights))
        self.normalize = ImageNetNormalize()
        load_weights(self.network, weights)

    def build_network(self) -> nn.Module:
        return type(self).builder(weights=None, num_classes=self.num_classes)

    def forward(self, image_like: Tensor) -> Tensor:
        return self.network(self.normalize(image_like))

    def config(self) -> dict[str, Any]:
        return {"weights": self.weights, **super().config()}


@TASKS.register("classification-resnet18")
class ResNet18Task(ResNetClassificationTask):
    """torchvision ``resnet18``."""

    name = "classification-resnet18"
    builder = staticmethod(torchvision_builder("torchvision.models", "resnet18"))


@TASKS.register("classification-resnet50")
class ResNet50Task(ResNetClassificationTask):
    """torchvision ``resnet50``."""

    name = "classification-resnet50"
    builder = staticmethod(torchvision_builder("torchvision.models", "resnet50"))
