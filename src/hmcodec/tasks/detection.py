"""Object detection heads on the base synthesis output (papers: COCO with Faster R-CNN).

``detection-fasterrcnn-resnet50-fpn-v2`` is the papers' Faster R-CNN ResNet-50 FPN (torchvision's
improved v2 recipe); ``detection-fasterrcnn-mobilenet-v3-fpn`` is the light variant.
``detection-fcos-tiny`` is torchvision's FCOS (Tian et al., ICCV 2019) on a small two-level
backbone with a torchvision FPN, for CPU-scale experiments on ShapesWorld. Labels are model class
indices with 0 = background (``num_classes`` = 91 for COCO, whose category ids are used directly,
as torchvision does). The models normalise their input themselves.

Input size: torchvision rescales images to ``min_size`` = 800 by default. Here ``min_size=None``
(the default) feeds g_b(ŷ_b) at its own size (down-scaled only when its longer side exceeds
``max_size``), so small CPU images are not up-scaled; set ``min_size``/``max_size`` to get
torchvision's resizing. Boxes are always returned in input-image pixels.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from hmcodec.errors import ConfigError
from hmcodec.io import atomic_write, write_pil_png
from hmcodec.tasks.base import TASKS, TaskHead, TaskMetric
from hmcodec.tasks.weights import (
    evaluating,
    freeze_batchnorm,
    load_pretrained,
    torchvision_builder,
    weight_categories,
)

#: boxes scoring below this are kept in the JSON but not drawn in the PNG.
DRAW_SCORE_THRESHOLD = 0.5
#: the COCO summary values ``DetectionMetric.compute`` reports (torchmetrics' names).
COCO_KEYS = (
    "map",
    "map_50",
    "map_75",
    "map_small",
    "map_medium",
    "map_large",
    "mar_1",
    "mar_10",
    "mar_100",
    "mar_small",
    "mar_medium",
    "mar_large",
)


class DetectionMetric(TaskMetric):
    """COCO box AP (mAP@[.5:.95], mAP@50, ...) via torchmetrics with the pycocotools backend."""

    primary = "map"
    higher_is_better = True

    def __init__(self) -> None:
        from torchmetrics.detection import MeanAveragePrecision  # deferred: slow import

        self.average_precision = MeanAveragePrecision(iou_type="bbox", backend="pycocotools")
        self.images = 0

    def update(self, predictions: list[dict[str, Any]], batch: dict[str, Any]) -> None:
        preds = [
            {key: prediction[key].detach().cpu() for key in ("boxes", "scores", "labels")}
            for prediction in predictions
        ]
        targets = []
        for index, (boxes, labels) in enumerate(zip(batch["boxes"], batch["labels"], strict=True)):
            target = {"boxes": boxes.detach().cpu().float(), "labels": labels.cpu().long()}
            if "iscrowd" in batch:  # optional COCO crowd flags
                target["iscrowd"] = batch["iscrowd"][index].cpu()
            targets.append(target)
        self.average_precision.update(preds, targets)
        self.images += len(preds)

    def compute(self) -> dict[str, float]:
        """The :data:`COCO_KEYS`; -1 marks an undefined value (no small objects, ...) as in COCO."""
        if self.images == 0:
            return dict.fromkeys(COCO_KEYS, math.nan)
        results = self.average_precision.compute()
        return {key: float(results[key]) for key in COCO_KEYS}


@contextlib.contextmanager
def _detection_training(model: nn.Module) -> Iterator[None]:
    """Switch only torchvision's train/eval logic (losses, sampling) to training for the block.

    The layers (BatchNorm) keep the head's own mode, so a frozen task model in eval mode still
    gives losses computed with its running statistics.
    """
    logic = ("transform", "rpn", "roi_heads")  # Faster R-CNN has all three, FCOS the transform
    parts = [model, *(getattr(model, name) for name in logic if hasattr(model, name))]
    flags = [part.training for part in parts]
    for part in parts:
        part.training = True
    try:
        yield
    finally:
        for part, flag in zip(parts, flags, strict=True):
            part.training = flag


class TorchvisionDetectionTask(TaskHead):
    """A torchvision detector in ``self.network``: ``loss`` sums its loss dict, ``predict`` gives
    boxes/scores/labels; subclasses build the network. ``min_size``/``max_size`` as above."""

    #: a torchvision detector (FasterRCNN, FCOS); torchvision ships no type information.
    network: Any

    target_keys = ("boxes", "labels")

    def __init__(
        self,
        num_classes: int,
        label_names: list[str] | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        detector_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(label_names)
        self.num_classes = num_classes
        self.min_size = min_size
        self.max_size = max_size
        self.detector_options = dict(detector_options or {})

    def _sizes(self) -> dict[str, int]:
        """The transform's size arguments for torchvision's builders (none: keep the input)."""
        sizes = {"min_size": self.min_size} if self.min_size is not None else {}
        if self.min_size is not None and self.max_size is not None:
            sizes["max_size"] = self.max_size
        return sizes

    def _images(self, image_like: Tensor) -> list[Tensor]:
        """Per-image tensors; with ``min_size=None`` the transform keeps the input size."""
        if self.min_size is None:
            height, width = image_like.shape[-2:]
            self.network.transform.min_size = (min(height, width),)
            self.network.transform.max_size = (
                self.max_size if self.max_size is not None else max(height, width)
            )
        return list(image_like)

    def loss(self, image_like: Tensor, batch: dict[str, Any]) -> Tensor:
        """Sum of the RPN and box-head losses; images without boxes are allowed.

        Degenerate boxes (zero width or height) are dropped, as torchvision's COCO reference
        does, since the model rejects them.
        """
        targets = []
        for boxes, labels in zip(batch["boxes"], batch["labels"], strict=True):
            boxes = boxes.to(image_like.device, torch.float32).reshape(-1, 4)
            labels = labels.to(image_like.device, torch.int64).reshape(-1)
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            targets.append({"boxes": boxes[keep], "labels": labels[keep]})
        with _detection_training(self.network):
            losses = self.network(self._images(image_like), targets)
        return sum(losses.values(), image_like.new_zeros(()))

    @torch.no_grad()
    def predict(self, image_like: Tensor) -> list[dict[str, Any]]:
        """Per image ``{"boxes" (xyxy), "labels", "scores", "image_size": (H, W)}``, eval mode."""
        with evaluating(self):
            detections = self.network(self._images(image_like))
        size = tuple(int(s) for s in image_like.shape[-2:])
        return [{**detection, "image_size": size} for detection in detections]

    def metric(self) -> DetectionMetric:
        return DetectionMetric()

    def _label_name(self, label: int) -> str | None:
        return self.label_names[label] if 0 <= label < len(self.label_names) else None

    def save_prediction(self, prediction: dict[str, Any], prefix: str | Path) -> list[Path]:
        """``<prefix>_detections.json`` (all boxes) and ``<prefix>_detections.png``.

        The head sees only the prediction, so the PNG draws the boxes scoring at least
        ``DRAW_SCORE_THRESHOLD`` on a white canvas of the image size.
        """
        boxes = prediction["boxes"].detach().float().cpu()
        labels = [int(label) for label in prediction["labels"]]
        scores = [float(score) for score in prediction["scores"]]
        if "image_size" in prediction:
            height, width = (int(s) for s in prediction["image_size"])
        else:  # fall back to a canvas that holds every box
            height = int(math.ceil(float(boxes[:, 3].max()))) if len(boxes) else 1
            width = int(math.ceil(float(boxes[:, 2].max()))) if len(boxes) else 1
        detections = [
            {
                "box": [round(float(v), 3) for v in box],
                "label": label,
                "label_name": self._label_name(label),
                "score": score,
            }
            for box, label, score in zip(boxes, labels, scores, strict=True)
        ]
        report = Path(f"{prefix}_detections.json")
        picture = Path(f"{prefix}_detections.png")
        document = {"image_size": [height, width], "box_format": "xyxy", "detections": detections}
        text = json.dumps(document, indent=2) + "\n"
        atomic_write(report, lambda temp: temp.write_text(text))
        shown = [i for i, score in enumerate(scores) if score >= DRAW_SCORE_THRESHOLD]
        canvas = torch.full((3, height, width), 255, dtype=torch.uint8)
        if shown:
            names = [self._label_name(labels[i]) or str(labels[i]) for i in shown]
            from torchvision.utils import draw_bounding_boxes

            canvas = draw_bounding_boxes(canvas, boxes[shown], labels=names, colors="red")
        pixels = np.ascontiguousarray(canvas.permute(1, 2, 0).numpy())
        write_pil_png(Image.fromarray(pixels), picture)
        return [picture, report]

    def config(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "min_size": self.min_size,
            "max_size": self.max_size,
            "detector_options": dict(self.detector_options),
            **super().config(),
        }


class FasterRCNNTask(TorchvisionDetectionTask):
    """A torchvision Faster R-CNN (``builder``), optionally from pretrained weights.

    ``weights`` loads the whole detector (a local file or e.g.
    ``"FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1"``), ``backbone_weights`` only the backbone
    body; ``detector_options`` go to torchvision's ``FasterRCNN`` (e.g. ``box_score_thresh``).
    """

    builder: ClassVar[Callable[..., nn.Module]]
    backbone_source: ClassVar[Callable[..., nn.Module]]
    #: torchvision builds this backbone with FrozenBatchNorm2d when it starts from weights.
    frozen_batchnorm_when_pretrained: ClassVar[bool] = False

    def __init__(
        self,
        num_classes: int = 91,
        label_names: list[str] | None = None,
        weights: str | None = None,
        backbone_weights: str | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        detector_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            num_classes,
            label_names or weight_categories(weights),
            min_size,
            max_size,
            detector_options,
        )
        self.weights = weights
        self.backbone_weights = backbone_weights
        self.network = type(self).builder(
            weights=None,
            weights_backbone=None,
            num_classes=num_classes,
            **self._sizes(),
            **self.detector_options,
        )
        body = self.network.backbone.body
        pretrained = weights is not None or backbone_weights is not None
        if pretrained and self.frozen_batchnorm_when_pretrained:
            freeze_batchnorm(body)
        load_pretrained(self.network, weights, body, backbone_weights, self.backbone_source)

    def config(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "backbone_weights": self.backbone_weights,
            **super().config(),
        }


@TASKS.register("detection-fasterrcnn-resnet50-fpn-v2")
class FasterRCNNResNet50Task(FasterRCNNTask):
    """torchvision ``fasterrcnn_resnet50_fpn_v2`` (BatchNorm throughout, as torchvision has it)."""

    name = "detection-fasterrcnn-resnet50-fpn-v2"
    builder = staticmethod(
        torchvision_builder("torchvision.models.detection", "fasterrcnn_resnet50_fpn_v2")
    )
    backbone_source = staticmethod(torchvision_builder("torchvision.models", "resnet50"))


@TASKS.register("detection-fasterrcnn-mobilenet-v3-fpn")
class FasterRCNNMobileNetTask(FasterRCNNTask):
    """torchvision ``fasterrcnn_mobilenet_v3_large_fpn``; FrozenBatchNorm2d body when pretrained."""

    name = "detection-fasterrcnn-mobilenet-v3-fpn"
    builder = staticmethod(
        torchvision_builder("torchvision.models.detection", "fasterrcnn_mobilenet_v3_large_fpn")
    )
    backbone_source = staticmethod(torchvision_builder("torchvision.models", "mobilenet_v3_large"))
    frozen_batchnorm_when_pretrained = True


#: stages of the tiny detector's coarse path: one stride-2 stage, then dilations 2 and 4.
COARSE_STAGES = 3
#: convolutions per branch of FCOS's head (torchvision's default).
HEAD_CONVS = 4


class TinyDetectorBackbone(nn.Module):
    """Two feature levels (strides 4 and 8, a dilated context of about 110 pixels) joined by a
    torchvision :class:`~torchvision.ops.FeaturePyramidNetwork` with ``out_channels`` each.
    ``coarse_stages`` below 3 keeps only the coarse path's first stages (the auxiliary branch's
    shallow copy, arXiv 2402.08267); above 3 it repeats the dilated pair."""

    #: the strides of the feature maps this backbone returns, finest first.
    strides: ClassVar[tuple[int, ...]] = (4, 8)

    def __init__(
        self, width: int = 16, out_channels: int = 32, coarse_stages: int = COARSE_STAGES
    ) -> None:
        from torchvision.ops import FeaturePyramidNetwork  # deferred, see torchvision_builder
        from torchvision.ops.misc import Conv2dNormActivation

        if coarse_stages < 1:
            raise ConfigError("a tiny detector needs at least one coarse stage.")
        super().__init__()
        self.fine = nn.Sequential(
            Conv2dNormActivation(3, width, stride=2),
            Conv2dNormActivation(width, 2 * width, stride=2),
        )
        self.coarse = nn.Sequential(
            Conv2dNormActivation(2 * width, 4 * width, stride=2),
            *(
                Conv2dNormActivation(4 * width, 4 * width, dilation=2 if i % 2 == 0 else 4)
                for i in range(coarse_stages - 1)
            ),
        )
        self.fpn = FeaturePyramidNetwork([2 * width, 4 * width], out_channels)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        fine = self.fine(x)
        return self.fpn(OrderedDict([("stride4", fine), ("stride8", self.coarse(fine))]))


@TASKS.register("detection-fcos-tiny")
class TinyFCOSTask(TorchvisionDetectionTask):
    """torchvision :class:`~torchvision.models.detection.FCOS` on :class:`TinyDetectorBackbone`.

    One anchor point per location with the level's stride as its size, so FCOS assigns objects
    whose largest point-to-edge distance is below 32 pixels to stride 4 and the rest to stride 8.
    FCOS's head normalises with GroupNorm(32), so ``out_channels`` must be a multiple of 32.
    ``detector_options`` go to ``FCOS`` (e.g. ``score_thresh``, ``nms_thresh``).
    """

    name = "detection-fcos-tiny"

    def __init__(
        self,
        num_classes: int = 6,
        label_names: list[str] | None = None,
        width: int = 16,
        out_channels: int = 32,
        min_size: int | None = None,
        max_size: int | None = None,
        detector_options: dict[str, Any] | None = None,
        coarse_stages: int = COARSE_STAGES,
        head_convs: int = HEAD_CONVS,
    ) -> None:
        if head_convs < 1:
            raise ConfigError("detection-fcos-tiny needs at least one head convolution.")
        if out_channels <= 0 or out_channels % 32:
            raise ConfigError(
                f"detection-fcos-tiny out_channels must be a positive multiple of 32 (FCOS's "
                f"GroupNorm has 32 groups), got {out_channels}."
            )
        super().__init__(num_classes, label_names, min_size, max_size, detector_options)
        self.width = width
        self.out_channels = out_channels
        self.coarse_stages = coarse_stages
        self.head_convs = head_convs
        from torchvision.models.detection import FCOS  # deferred, see torchvision_builder
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        from torchvision.models.detection.fcos import FCOSHead

        backbone = TinyDetectorBackbone(width, out_channels, coarse_stages)
        anchors = AnchorGenerator(
            tuple((stride,) for stride in backbone.strides), ((1.0,),) * len(backbone.strides)
        )
        head = FCOSHead(out_channels, 1, num_classes, num_convs=head_convs)
        self.network = FCOS(
            backbone,
            num_classes,
            anchor_generator=anchors,
            head=head,
            **self._sizes(),
            **self.detector_options,
        )

    def shallow_copy(self) -> TinyFCOSTask:
        """A fresh detector of the recogniser's first stages only (the fine path, one coarse
        stage, one convolution per head branch): the auxiliary branch of arXiv 2402.08267."""
        return TinyFCOSTask(
            self.num_classes,
            self.label_names,
            self.width,
            self.out_channels,
            self.min_size,
            self.max_size,
            self.detector_options,
            coarse_stages=1,
            head_convs=1,
        )

    def config(self) -> dict[str, Any]:
        extra = {
            key: value
            for key, value, default in (
                ("coarse_stages", self.coarse_stages, COARSE_STAGES),
                ("head_convs", self.head_convs, HEAD_CONVS),
            )
            if value != default
        }
        return {"width": self.width, "out_channels": self.out_channels, **extra, **super().config()}
