"""Semantic segmentation heads on the base synthesis output (papers: DeepLabV3 / LRASPP).

``tiny`` is a small fully convolutional network for CPU-scale experiments on ShapesWorld.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torchmetrics.classification import MulticlassJaccardIndex

from hmcodec.tasks.base import TASKS, TaskHead, TaskMetric

IGNORE_INDEX = 255


def label_palette(num_classes: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map (bit-interleaved), 256×3 uint8; index 255 is white."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        c, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette[index] = (r, g, b)
    palette[IGNORE_INDEX] = (255, 255, 255)
    return palette


def tiny_segmenter(num_classes: int, width: int = 32) -> nn.Module:
    """A small dilated FCN (3×3 convs, BatchNorm, ReLU) for CPU experiments."""
    layers: list[nn.Module] = []
    channels = 3
    for dilation in (1, 2, 4, 1):
        layers += [
            nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        channels = width
    layers.append(nn.Conv2d(width, num_classes, 1))
    return nn.Sequential(*layers)


class SegmentationMetric(TaskMetric):
    """Mean IoU over classes present (torchmetrics), pixels marked ``ignore_index`` skipped."""

    primary = "miou"

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        self.jaccard = MulticlassJaccardIndex(
            num_classes, ignore_index=ignore_index, average="macro"
        )
        self.correct = 0
        self.counted = 0
        self.ignore_index = ignore_index

    def update(self, predictions: list[Tensor], batch: dict[str, Any]) -> None:
        for prediction, target in zip(predictions, batch["segmentation"], strict=True):
            prediction, target = prediction.cpu(), target.cpu()
            self.jaccard.update(prediction[None], target[None])
            valid = target != self.ignore_index
            self.correct += int((prediction[valid] == target[valid]).sum())
            self.counted += int(valid.sum())

    def compute(self) -> dict[str, float]:
        return {
            "miou": float(self.jaccard.compute()),
            "pixel_accuracy": self.correct / max(self.counted, 1),
        }


class SegmentationTask(TaskHead):
    """Per-pixel classification with cross-entropy (``ignore_index`` 255)."""

    target_keys = ("segmentation",)

    def __init__(self, num_classes: int, label_names: list[str] | None = None) -> None:
        super().__init__(label_names)
        self.num_classes = num_classes
        self.network = self.build_network()

    def build_network(self) -> nn.Module:
        raise NotImplementedError

    def forward(self, image_like: Tensor) -> Tensor:
        logits = self.network(image_like)
        if isinstance(logits, dict):  # torchvision segmentation models return {"out": ...}
            logits = logits["out"]
        if logits.shape[-2:] != image_like.shape[-2:]:
            logits = F.interpolate(
                logits, size=image_like.shape[-2:], mode="bilinear", align_corners=False
            )
        return logits

    def loss(self, image_like: Tensor, batch: dict[str, Any]) -> Tensor:
        return F.cross_entropy(
            self(image_like), batch["segmentation"], ignore_index=IGNORE_INDEX
        )

    @torch.no_grad()
    def predict(self, image_like: Tensor) -> list[Tensor]:
        return list(self(image_like).argmax(1))

    def metric(self) -> SegmentationMetric:
        return SegmentationMetric(self.num_classes)

    def save_prediction(self, prediction: Tensor, prefix: Path) -> list[Path]:
        labels = prediction.to(torch.uint8).cpu().numpy()
        raw = Path(f"{prefix}_labels.png")
        colour = Path(f"{prefix}_segmentation.png")
        Image.fromarray(labels, mode="L").save(raw)
        Image.fromarray(label_palette()[labels]).save(colour)
        return [colour, raw]

    def config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, **super().config()}


@TASKS.register("segmentation-tiny")
class TinySegmentationTask(SegmentationTask):
    """ShapesWorld / CPU-scale segmentation with :func:`tiny_segmenter`."""

    name = "segmentation-tiny"

    def __init__(
        self, num_classes: int, label_names: list[str] | None = None, width: int = 32
    ) -> None:
        self.width = width
        super().__init__(num_classes, label_names)

    def build_network(self) -> nn.Module:
        return tiny_segmenter(self.num_classes, self.width)

    def config(self) -> dict[str, Any]:
        return {"width": self.width, **super().config()}
