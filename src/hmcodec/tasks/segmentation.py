"""Semantic segmentation heads on the base synthesis output (papers: DeepLabV3 / LRASPP).

``tiny`` is a small fully convolutional network for CPU-scale experiments on ShapesWorld; the
torchvision heads are the papers' DeepLabV3 ResNet-50, DeepLabV3 MobileNetV3 and LRASPP
MobileNetV3, fed with ImageNet-normalised g_b(ŷ_b) as their pretrained weights expect.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from hmcodec.errors import ConfigError
from hmcodec.io import write_pil_png
from hmcodec.nn.transforms import Conv1x1
from hmcodec.tasks.base import TASKS, LogitsTaskHead, TaskMetric, dense_output
from hmcodec.tasks.weights import (
    ImageNetNormalize,
    load_pretrained,
    torchvision_builder,
    weight_categories,
)

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


def _conv(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, padding=dilation, dilation=dilation),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


#: context stages of :class:`TinySegmenter` by default (two stride-2, two dilated).
CONTEXT_STAGES = 4


def _context_stage(index: int, width: int) -> nn.Module:
    """Stage ``index`` of the context path: stride 2 for the first two, then dilations 2, 4,
    2, 4, … (a deeper recogniser repeats the dilated pair)."""
    if index < 2:
        return _conv(width if index == 0 else 2 * width, 2 * width, stride=2)
    return _conv(2 * width, 2 * width, dilation=2 if index % 2 == 0 else 4)


class TinySegmenter(nn.Module):
    """A small encoder–decoder for CPU experiments: a 4× down-sampled dilated context path
    (receptive field of about 90 pixels, enough to tell shapes apart) and a full-resolution
    skip, in the spirit of DeepLabV3+ at a fraction of its size. ``context_stages`` deepens it
    (more dilated stages) or, below 4, keeps only its first stages (the auxiliary branch's
    shallow copy, arXiv 2402.08267)."""

    def __init__(self, num_classes: int, width: int = 32, context_stages: int = CONTEXT_STAGES):
        super().__init__()
        if context_stages < 1:
            raise ConfigError("a tiny segmenter needs at least one context stage.")
        self.stem = _conv(3, width)
        self.context = nn.Sequential(*(_context_stage(i, width) for i in range(context_stages)))
        self.head = nn.Sequential(_conv(3 * width, width), Conv1x1(width, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        # channels-last, oneDNN's native layout (as the codec's transforms, nn/transforms.py)
        x = x.contiguous(memory_format=torch.channels_last)
        skip = self.stem(x)
        context = F.interpolate(
            self.context(skip), size=x.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.head(torch.cat([skip, context], dim=1)).contiguous()


def tiny_segmenter(
    num_classes: int, width: int = 32, context_stages: int = CONTEXT_STAGES
) -> nn.Module:
    """:class:`TinySegmenter` with ``num_classes`` outputs (also the tiny depth network)."""
    return TinySegmenter(num_classes, width, context_stages)


class SegmentationMetric(TaskMetric):
    """Mean IoU over classes present (torchmetrics), pixels marked ``ignore_index`` skipped."""

    primary = "miou"
    higher_is_better = True

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        from torchmetrics.classification import MulticlassJaccardIndex  # deferred: slow import

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


class SegmentationTask(LogitsTaskHead):
    """Per-pixel classification with cross-entropy (``ignore_index`` 255)."""

    target_keys = ("segmentation",)
    ignore_index = IGNORE_INDEX

    def forward(self, image_like: Tensor) -> Tensor:
        return dense_output(self.network, image_like)

    def metric(self) -> SegmentationMetric:
        return SegmentationMetric(self.num_classes)

    def save_prediction(self, prediction: Tensor, prefix: str | Path) -> list[Path]:
        labels = prediction.to(torch.uint8).cpu().numpy()
        raw = Path(f"{prefix}_labels.png")
        colour = Path(f"{prefix}_segmentation.png")
        write_pil_png(Image.fromarray(labels, mode="L"), raw)
        write_pil_png(Image.fromarray(label_palette()[labels]), colour)
        return [colour, raw]


@TASKS.register("segmentation-tiny")
class TinySegmentationTask(SegmentationTask):
    """ShapesWorld / CPU-scale segmentation with :func:`tiny_segmenter`."""

    name = "segmentation-tiny"

    def __init__(
        self,
        num_classes: int,
        label_names: list[str] | None = None,
        width: int = 32,
        context_stages: int = CONTEXT_STAGES,
    ) -> None:
        self.width = width
        self.context_stages = context_stages
        super().__init__(num_classes, label_names)

    def build_network(self) -> nn.Module:
        return tiny_segmenter(self.num_classes, self.width, self.context_stages)

    def shallow_copy(self) -> TinySegmentationTask:
        """A fresh head of the recogniser's first stages only (stem, one context stage, head):
        the auxiliary branch of arXiv 2402.08267."""
        return TinySegmentationTask(self.num_classes, self.label_names, self.width, 1)

    def config(self) -> dict[str, Any]:
        extra = (
            {} if self.context_stages == CONTEXT_STAGES else {"context_stages": self.context_stages}
        )
        return {"width": self.width, **extra, **super().config()}


#: torchvision references weight the auxiliary FCN head's loss by 0.5.
AUX_LOSS_WEIGHT = 0.5


class TorchvisionSegmentationTask(SegmentationTask):
    """A torchvision segmentation model (random init, task weights and/or backbone weights).

    ``weights`` loads the whole model (a local state dict or a torchvision enum name such as
    ``"DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1"``); ``backbone_weights`` loads only
    the feature extractor (e.g. ``"ResNet50_Weights.IMAGENET1K_V1"``) before ``weights``.
    Without ``label_names``, the categories of torchvision ``weights`` are used.
    """

    builder: ClassVar[Callable[..., nn.Module]]
    backbone_source: ClassVar[Callable[..., nn.Module]]

    def __init__(
        self,
        num_classes: int,
        label_names: list[str] | None = None,
        weights: str | None = None,
        backbone_weights: str | None = None,
        **builder_kwargs: Any,
    ) -> None:
        self.weights = weights
        self.backbone_weights = backbone_weights
        self.builder_kwargs = builder_kwargs
        super().__init__(num_classes, label_names or weight_categories(weights))
        self.normalize = ImageNetNormalize()
        backbone = self.network.get_submodule("backbone")
        load_pretrained(self.network, weights, backbone, backbone_weights, self.backbone_source)

    def build_network(self) -> nn.Module:
        return type(self).builder(
            weights=None, weights_backbone=None, num_classes=self.num_classes, **self.builder_kwargs
        )

    def outputs(self, image_like: Tensor) -> dict[str, Tensor]:
        """The model's ``{"out": ..., "aux": ...}`` logits at the input size."""
        return self.network(self.normalize(image_like))

    def forward(self, image_like: Tensor) -> Tensor:
        return self.outputs(image_like)["out"]

    def loss(self, image_like: Tensor, batch: dict[str, Any]) -> Tensor:
        """Cross-entropy of ``out`` plus 0.5 × that of ``aux`` when the model has it."""
        outputs = self.outputs(image_like)
        target = batch["segmentation"]
        loss = F.cross_entropy(outputs["out"], target, ignore_index=IGNORE_INDEX)
        if "aux" in outputs:
            aux = F.cross_entropy(outputs["aux"], target, ignore_index=IGNORE_INDEX)
            loss = loss + AUX_LOSS_WEIGHT * aux
        return loss

    def config(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "backbone_weights": self.backbone_weights,
            **self.builder_kwargs,
            **super().config(),
        }


class _DeepLabV3Task(TorchvisionSegmentationTask):
    """DeepLabV3 with its auxiliary FCN head (``aux_loss``), as torchvision trains it."""

    def __init__(
        self,
        num_classes: int,
        label_names: list[str] | None = None,
        weights: str | None = None,
        backbone_weights: str | None = None,
        aux_loss: bool = True,
    ) -> None:
        super().__init__(num_classes, label_names, weights, backbone_weights, aux_loss=aux_loss)


@TASKS.register("segmentation-deeplabv3-resnet50")
class DeepLabV3ResNet50Task(_DeepLabV3Task):
    """torchvision ``deeplabv3_resnet50`` (paper setting; VOC weights have 21 classes)."""

    name = "segmentation-deeplabv3-resnet50"
    builder = staticmethod(
        torchvision_builder("torchvision.models.segmentation", "deeplabv3_resnet50")
    )
    backbone_source = staticmethod(torchvision_builder("torchvision.models", "resnet50"))


@TASKS.register("segmentation-deeplabv3-mobilenet")
class DeepLabV3MobileNetTask(_DeepLabV3Task):
    """torchvision ``deeplabv3_mobilenet_v3_large`` (paper setting)."""

    name = "segmentation-deeplabv3-mobilenet"
    builder = staticmethod(
        torchvision_builder("torchvision.models.segmentation", "deeplabv3_mobilenet_v3_large")
    )
    backbone_source = staticmethod(torchvision_builder("torchvision.models", "mobilenet_v3_large"))


@TASKS.register("segmentation-lraspp-mobilenet")
class LRASPPMobileNetTask(TorchvisionSegmentationTask):
    """torchvision ``lraspp_mobilenet_v3_large`` (no auxiliary head)."""

    name = "segmentation-lraspp-mobilenet"
    builder = staticmethod(
        torchvision_builder("torchvision.models.segmentation", "lraspp_mobilenet_v3_large")
    )
    backbone_source = staticmethod(torchvision_builder("torchvision.models", "mobilenet_v3_large"))

    def __init__(
        self,
        num_classes: int,
        label_names: list[str] | None = None,
        weights: str | None = None,
        backbone_weights: str | None = None,
    ) -> None:
        super().__init__(num_classes, label_names, weights, backbone_weights)
