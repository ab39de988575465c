"""Monocular depth heads on the base synthesis output (task-compatible paper: Cityscapes depth).

The paper regresses depth with torchvision's LRASPP MobileNetV3 given a single output channel;
``depth-tiny`` is a small dilated FCN for CPU-scale experiments on ShapesWorld. Depth is in the
sample schema's unit (metres); only pixels of ``depth_mask`` (with depth > 0) are scored.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from hmcodec.io import write_pil_png
from hmcodec.tasks.base import TASKS, NetworkTaskHead, TaskMetric, dense_output
from hmcodec.tasks.segmentation import tiny_segmenter
from hmcodec.tasks.weights import (
    ImageNetNormalize,
    evaluating,
    load_pretrained,
    torchvision_builder,
)

#: 16-bit PNGs store ``round(depth × 256)`` (the KITTI depth convention, up to 256 m); 0 = none.
DEPTH_PNG_SCALE = 256.0
#: matplotlib colour map of the human-viewable depth picture (near = dark).
DEPTH_COLORMAP = "magma"
_EPS = 1e-8


def masked_rmse(prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Root mean squared error over the ``mask`` pixels of a batch (0 when there are none)."""
    squared = (prediction - target).square()[mask]
    if squared.numel() == 0:
        return prediction.sum() * 0.0  # keeps the graph; no valid pixel carries no signal
    return torch.sqrt(squared.mean() + _EPS)


def valid_depth(target: Tensor, mask: Tensor | None) -> Tensor:
    """Pixels with ground truth: inside ``mask`` and with finite, positive depth."""
    valid = torch.isfinite(target) & (target > 0)
    return valid & mask.bool() if mask is not None else valid


class DepthMetric(TaskMetric):
    """RMSE, AbsRel and δ<1.25 (Eigen et al.) per image over valid pixels, averaged over images.

    Lower is better for the primary ``rmse``; images without valid pixels are skipped.
    """

    primary = "rmse"
    higher_is_better = False

    def __init__(self) -> None:
        self.sums = {"rmse": 0.0, "abs_rel": 0.0, "delta1": 0.0}
        self.images = 0

    def update(self, predictions: list[Tensor], batch: dict[str, Any]) -> None:
        masks = batch.get("depth_mask")
        for index, (prediction, target) in enumerate(zip(predictions, batch["depth"], strict=True)):
            target = target.detach().cpu().double()
            mask = masks[index].cpu() if masks is not None else None
            valid = valid_depth(target, mask)
            if not bool(valid.any()):
                continue
            gt = target[valid]
            pred = prediction.detach().cpu().double()[valid]
            ratio = torch.maximum(pred / gt, gt / pred.clamp_min(_EPS))
            self.sums["rmse"] += float((pred - gt).square().mean().sqrt())
            self.sums["abs_rel"] += float(((pred - gt).abs() / gt).mean())
            self.sums["delta1"] += float((ratio < 1.25).double().mean())
            self.images += 1

    def compute(self) -> dict[str, float]:
        if self.images == 0:
            return {key: math.nan for key in self.sums}
        return {key: total / self.images for key, total in self.sums.items()}


class DepthTask(NetworkTaskHead):
    """Dense depth regression trained with the masked RMSE over ``depth_mask``."""

    target_keys = ("depth", "depth_mask")

    def __init__(self, label_names: list[str] | None = None) -> None:
        super().__init__(None, label_names)

    def forward(self, image_like: Tensor) -> Tensor:
        """N×H×W depth at the input size."""
        return dense_output(self.network, image_like)[:, 0]

    def loss(self, image_like: Tensor, batch: dict[str, Any]) -> Tensor:
        target = batch["depth"]
        return masked_rmse(self(image_like), target, valid_depth(target, batch.get("depth_mask")))

    @torch.no_grad()
    def predict(self, image_like: Tensor) -> list[Tensor]:
        """Float H×W depth maps (clamped at 0), computed in eval mode."""
        with evaluating(self):
            return list(self(image_like).clamp_min(0.0))

    def metric(self) -> DepthMetric:
        return DepthMetric()

    def save_prediction(self, prediction: Tensor, prefix: str | Path) -> list[Path]:
        """``<prefix>_depth16.png`` (uint16, depth × 256) and ``<prefix>_depth.png`` (colour)."""
        from matplotlib import colormaps  # deferred: matplotlib is slow to import

        depth = prediction.detach().float().cpu().numpy()
        raw = Path(f"{prefix}_depth16.png")
        colour = Path(f"{prefix}_depth.png")
        scaled = np.clip(np.nan_to_num(depth) * DEPTH_PNG_SCALE, 0, 65535)
        write_pil_png(Image.fromarray(np.round(scaled).astype(np.uint16)), raw)
        low, high = float(np.nanmin(depth)), float(np.nanmax(depth))
        unit = (depth - low) / (high - low) if high > low else np.zeros_like(depth)
        rgba = colormaps[DEPTH_COLORMAP](np.nan_to_num(unit), bytes=True)
        write_pil_png(Image.fromarray(rgba[..., :3]), colour)
        return [colour, raw]


@TASKS.register("depth-tiny")
class TinyDepthTask(DepthTask):
    """ShapesWorld / CPU-scale depth with :func:`~hmcodec.tasks.segmentation.tiny_segmenter`."""

    name = "depth-tiny"

    def __init__(self, label_names: list[str] | None = None, width: int = 32) -> None:
        self.width = width
        super().__init__(label_names)

    def build_network(self) -> nn.Module:
        return tiny_segmenter(1, self.width)

    def config(self) -> dict[str, Any]:
        return {"width": self.width, **super().config()}


@TASKS.register("depth-lraspp-mobilenet")
class LRASPPDepthTask(DepthTask):
    """torchvision ``lraspp_mobilenet_v3_large`` with one output channel (the paper's setting).

    ``weights`` loads the whole model (local file), ``backbone_weights`` only MobileNetV3's
    features (e.g. ``"MobileNet_V3_Large_Weights.IMAGENET1K_V1"``); input is ImageNet-normalised.
    """

    name = "depth-lraspp-mobilenet"

    def __init__(
        self,
        label_names: list[str] | None = None,
        weights: str | None = None,
        backbone_weights: str | None = None,
    ) -> None:
        self.weights = weights
        self.backbone_weights = backbone_weights
        super().__init__(label_names)
        self.normalize = ImageNetNormalize()
        load_pretrained(
            self.network,
            weights,
            self.network.get_submodule("backbone"),
            backbone_weights,
            torchvision_builder("torchvision.models", "mobilenet_v3_large"),
        )

    def build_network(self) -> nn.Module:
        lraspp = torchvision_builder("torchvision.models.segmentation", "lraspp_mobilenet_v3_large")
        return lraspp(weights=None, weights_backbone=None, num_classes=1)

    def forward(self, image_like: Tensor) -> Tensor:
        return super().forward(self.normalize(image_like))

    def config(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "backbone_weights": self.backbone_weights,
            **super().config(),
        }
