"""Augmentations applied consistently to a sample's image and all of its targets.

Every transform is a callable ``sample dict -> sample dict`` (it never mutates its input) and
draws its randomness from torch's RNG (``torch.manual_seed`` or a ``generator``), so a seeded
``DataLoader`` worker reproduces it. ``build_transforms`` assembles the papers' training
augmentation — random crop, horizontal flip, colour jitter, 2× downscale as in the
task-compatible paper — plus padding to a multiple of the codec's downsampling factor.

Spatial keys: ``image`` (3×H×W), ``segmentation``, ``depth``, ``depth_mask`` (H×W) and
``boxes`` (N×4 xyxy, with ``labels``). Padding fills the image with zeros (or replicates its
border), the segmentation with the ignore index 255, the depth with 0 and the mask with False.
Other keys (``label``, ``meta`` …) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from hmcodec.data.schema import IGNORE_INDEX
from hmcodec.errors import ConfigError

Sample = dict[str, Any]
Transform = Callable[[Sample], Sample]

#: H×W keys and the value that fills them where padding adds pixels.
_MAP_FILLS: dict[str, Any] = {"segmentation": IGNORE_INDEX, "depth": 0.0, "depth_mask": False}


def size_pair(size: int | Sequence[int], what: str) -> tuple[int, int]:
    """``(H, W)`` from an int (square) or a pair; ConfigError naming ``what`` otherwise."""
    if isinstance(size, int):
        h = w = size
    else:
        if len(size) != 2:
            raise ConfigError(f"{what} must be an int or (H, W), got {size!r}.")
        h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise ConfigError(f"{what} must be positive, got {size!r}.")
    return h, w


def image_size(sample: Mapping[str, Any]) -> tuple[int, int]:
    """(H, W) of the sample's image."""
    h, w = sample["image"].shape[-2:]
    return int(h), int(w)


def _filter_boxes(out: Sample, boxes: Tensor, min_size: float) -> None:
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    out["boxes"] = boxes[keep]
    if "labels" in out:
        out["labels"] = out["labels"][keep]


# ----------------------------------------------------------------------------- functional ops


def hflip(sample: Mapping[str, Any]) -> Sample:
    """Mirror left↔right: every map flipped, boxes ``x1, x2 -> W - x2, W - x1``."""
    out = dict(sample)
    _, w = image_size(sample)
    out["image"] = sample["image"].flip(-1)
    for key in _MAP_FILLS:
        if key in sample:
            out[key] = sample[key].flip(-1)
    if "boxes" in sample:
        boxes = sample["boxes"].clone()
        boxes[:, 0] = w - sample["boxes"][:, 2]
        boxes[:, 2] = w - sample["boxes"][:, 0]
        out["boxes"] = boxes
    return out


def pad(sample: Mapping[str, Any], bottom: int, right: int, image_mode: str = "constant") -> Sample:
    """Add ``bottom`` rows and ``right`` columns; ``image_mode`` "constant" (0) or "replicate"."""
    if image_mode not in ("constant", "replicate"):
        raise ConfigError(f"pad mode must be 'constant' or 'replicate', not {image_mode!r}.")
    out = dict(sample)
    if bottom <= 0 and right <= 0:
        return out
    bottom, right = max(bottom, 0), max(right, 0)
    image = sample["image"]
    if image_mode == "replicate":
        out["image"] = F.pad(image[None], (0, right, 0, bottom), mode="replicate")[0]
    else:
        out["image"] = F.pad(image, (0, right, 0, bottom), value=0.0)
    for key, fill in _MAP_FILLS.items():
        if key in sample:
            value = sample[key]
            h, w = value.shape[-2:]
            padded = torch.full((h + bottom, w + right), fill, dtype=value.dtype)
            padded[:h, :w] = value
            out[key] = padded
    return out  # boxes keep their coordinates: padding is at the bottom/right


def crop(
    sample: Mapping[str, Any],
    top: int,
    left: int,
    height: int,
    width: int,
    min_box_size: float = 1.0,
) -> Sample:
    """Cut the window ``[top, top+height) × [left, left+width)`` out of every key.

    A window reaching past the bottom/right edge is padded (image 0, segmentation 255, depth 0,
    mask False). Boxes are shifted, clipped to the window and dropped (with their labels) when
    narrower or shorter than ``min_box_size`` pixels.
    """
    h, w = image_size(sample)
    if top < 0 or left < 0:
        raise ValueError(f"crop window starts outside the image: top={top}, left={left}")
    out = pad(sample, top + height - h, left + width - w)
    window = (slice(top, top + height), slice(left, left + width))
    out["image"] = out["image"][(slice(None), *window)]
    for key in _MAP_FILLS:
        if key in out:
            out[key] = out[key][window]
    if "boxes" in sample:
        shift = torch.tensor([left, top, left, top], dtype=sample["boxes"].dtype)
        boxes = sample["boxes"] - shift
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        _filter_boxes(out, boxes, min_box_size)
    return out


def pad_to_multiple(
    sample: Mapping[str, Any], multiple: int, image_mode: str = "replicate"
) -> Sample:
    """Pad bottom/right so H and W are multiples of ``multiple`` (the codec's stride)."""
    h, w = image_size(sample)
    return pad(sample, -h % multiple, -w % multiple, image_mode=image_mode)


def _nearest_index(old: int, new: int) -> Tensor:
    # sample the source pixel whose centre is nearest to each target pixel centre
    return ((torch.arange(new, dtype=torch.float64) + 0.5) * (old / new)).long().clamp(max=old - 1)


def downscale(sample: Mapping[str, Any], factor: int = 2) -> Sample:
    """Shrink by ``factor`` to ``(H // factor, W // factor)``.

    Image: bilinear with antialiasing; segmentation, depth and depth mask: nearest (no label or
    depth is invented); boxes scaled by the exact size ratio.
    """
    if factor < 1:
        raise ConfigError(f"downscale factor must be >= 1, got {factor}.")
    out = dict(sample)
    h, w = image_size(sample)
    nh, nw = max(h // factor, 1), max(w // factor, 1)
    if (nh, nw) == (h, w):
        return out
    image = F.interpolate(
        sample["image"][None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False
    )[0]
    out["image"] = image.clamp_(0.0, 1.0)
    rows, cols = _nearest_index(h, nh), _nearest_index(w, nw)
    for key in _MAP_FILLS:
        if key in sample:
            out[key] = sample[key][rows][:, cols]
    if "boxes" in sample:
        scale = torch.tensor([nw / w, nh / h, nw / w, nh / h], dtype=sample["boxes"].dtype)
        out["boxes"] = sample["boxes"] * scale
    return out


# ----------------------------------------------------------------------------- random transforms


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Iterable[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample) -> Sample:
        for transform in self.transforms:
            sample = transform(sample)
        return sample

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class RandomCrop:
    """A random ``size`` window of every key; images smaller than ``size`` are padded first."""

    def __init__(
        self,
        size: int | Sequence[int],
        min_box_size: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        self.size = size_pair(size, "crop size")
        self.min_box_size = min_box_size
        self.generator = generator

    def __call__(self, sample: Sample) -> Sample:
        ch, cw = self.size
        h, w = image_size(sample)
        top = int(torch.randint(0, max(h - ch, 0) + 1, (1,), generator=self.generator))
        left = int(torch.randint(0, max(w - cw, 0) + 1, (1,), generator=self.generator))
        return crop(sample, top, left, ch, cw, min_box_size=self.min_box_size)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size})"


class RandomHorizontalFlip:
    """Mirror the sample with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        self.p = p
        self.generator = generator

    def __call__(self, sample: Sample) -> Sample:
        if float(torch.rand((), generator=self.generator)) < self.p:
            return hflip(sample)
        return dict(sample)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class ColorJitter:
    """torchvision's ``ColorJitter`` on the image only; targets are untouched."""

    def __init__(
        self,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.0,
    ) -> None:
        from torchvision.transforms import v2  # imported here: torchvision is slow to import

        self.jitter = v2.ColorJitter(brightness, contrast, saturation, hue)

    def __call__(self, sample: Sample) -> Sample:
        out = dict(sample)
        out["image"] = self.jitter(sample["image"]).clamp(0.0, 1.0)
        return out

    def __repr__(self) -> str:
        return f"ColorJitter({self.jitter!r})"


class Downscale:
    """Deterministic ``factor``× downscale (see ``downscale``)."""

    def __init__(self, factor: int = 2) -> None:
        self.factor = int(factor)

    def __call__(self, sample: Sample) -> Sample:
        return downscale(sample, self.factor)

    def __repr__(self) -> str:
        return f"Downscale({self.factor})"


class PadToMultiple:
    """Pad bottom/right to a multiple of ``multiple`` (see ``pad_to_multiple``)."""

    def __init__(self, multiple: int = 64, image_mode: str = "replicate") -> None:
        if multiple < 1:
            raise ConfigError(f"pad_multiple must be >= 1, got {multiple}.")
        if image_mode not in ("constant", "replicate"):
            raise ConfigError(f"pad_mode must be 'constant' or 'replicate', not {image_mode!r}.")
        self.multiple = int(multiple)
        self.image_mode = image_mode

    def __call__(self, sample: Sample) -> Sample:
        return pad_to_multiple(sample, self.multiple, self.image_mode)

    def __repr__(self) -> str:
        return f"PadToMultiple({self.multiple}, {self.image_mode!r})"


def _jitter(jitter: bool | float | Sequence[float] | Mapping[str, float]) -> ColorJitter:
    if jitter is True:
        return ColorJitter()
    if isinstance(jitter, int | float):
        return ColorJitter(float(jitter), float(jitter), float(jitter), 0.0)
    if isinstance(jitter, Mapping):
        return ColorJitter(**jitter)
    return ColorJitter(*jitter)


def build_transforms(
    crop: int | Sequence[int] | None = None,
    flip: bool | float = False,
    jitter: bool | float | Sequence[float] | Mapping[str, float] | None = None,
    downscale: bool | int = False,
    pad_multiple: int | None = None,
    pad_mode: str = "replicate",
) -> Compose | None:
    """The augmentation pipeline named by dataset-builder keywords, or None if there is none.

    Order: ``downscale`` (True = 2×) → random ``crop`` (int or (H, W)) → horizontal ``flip``
    (True = p 0.5, or a probability) → colour ``jitter`` (True = 0.4/0.4/0.4/0, a float for
    brightness = contrast = saturation, a (b, c, s, h) tuple or a ColorJitter kwargs dict) →
    ``pad_multiple`` (image padded by ``pad_mode``: "replicate" or "constant").
    """
    steps: list[Transform] = []
    if downscale:
        steps.append(Downscale(2 if downscale is True else int(downscale)))
    if crop is not None:
        steps.append(RandomCrop(crop))
    if flip:
        steps.append(RandomHorizontalFlip(0.5 if flip is True else float(flip)))
    if jitter:
        steps.append(_jitter(jitter))
    if pad_multiple:
        steps.append(PadToMultiple(int(pad_multiple), pad_mode))
    return Compose(steps) if steps else None
