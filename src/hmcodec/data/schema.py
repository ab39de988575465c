"""The sample schema every dataset yields, and ``collate`` that batches samples.

A sample is a dict with ``image`` (float32 3×H×W in [0, 1]) and whichever targets its dataset
has: ``segmentation`` (int64 H×W, ignore index 255), ``depth`` (float32 H×W) with
``depth_mask`` (bool H×W), ``boxes`` (float32 N×4, xyxy pixels, x2/y2 exclusive) with ``labels``
(int64 N), ``label`` (int64 scalar class id), and optionally ``meta`` (a plain dict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

#: segmentation value that losses and metrics ignore.
IGNORE_INDEX = 255

#: keys whose tensors have the same shape across a batch (after crop/pad) and are stacked.
STACKED_KEYS: tuple[str, ...] = ("image", "segmentation", "depth", "depth_mask", "label")
#: keys of variable length per sample, kept as lists by ``collate``.
LIST_KEYS: tuple[str, ...] = ("boxes", "labels", "meta")

#: expected dtype and number of dimensions of each tensor key.
KEY_SPECS: dict[str, tuple[torch.dtype, int]] = {
    "image": (torch.float32, 3),
    "segmentation": (torch.int64, 2),
    "depth": (torch.float32, 2),
    "depth_mask": (torch.bool, 2),
    "boxes": (torch.float32, 2),
    "labels": (torch.int64, 1),
    "label": (torch.int64, 0),
}


def collate(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch samples: stack ``image``/``segmentation``/``depth``/``depth_mask``/``label``.

    ``boxes``, ``labels`` and ``meta`` (and any other key whose values are not equal-shape
    tensors) stay lists with one entry per sample. Every sample must carry the same keys.
    """
    if not samples:
        raise ValueError("collate needs at least one sample")
    keys = list(samples[0].keys())
    for i, sample in enumerate(samples[1:], start=1):
        if set(sample.keys()) != set(keys):
            raise ValueError(
                f"sample {i} has keys {sorted(sample)} but sample 0 has {sorted(keys)}"
            )
    batch: dict[str, Any] = {}
    for key in keys:
        values = [sample[key] for sample in samples]
        if key in STACKED_KEYS:
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) != 1:
                raise ValueError(
                    f"cannot stack {key!r} of shapes {sorted(shapes)}; crop or pad samples to "
                    "one size (e.g. the crop or pad_multiple transforms)"
                )
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    return batch


def check_sample(sample: Mapping[str, Any]) -> None:
    """Raise ``AssertionError`` naming the first way ``sample`` breaks the schema (for tests)."""
    assert "image" in sample, "sample has no 'image'"
    for key, (dtype, ndim) in KEY_SPECS.items():
        if key not in sample:
            continue
        value = sample[key]
        assert isinstance(value, Tensor), f"{key!r} is {type(value).__name__}, not a Tensor"
        assert value.dtype == dtype, f"{key!r} has dtype {value.dtype}, expected {dtype}"
        assert value.dim() == ndim, f"{key!r} has {value.dim()} dims, expected {ndim}"
    image: Tensor = sample["image"]
    assert image.shape[0] == 3, f"image has {image.shape[0]} channels, expected 3"
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0, "image is outside [0, 1]"
    size = tuple(image.shape[-2:])
    for key in ("segmentation", "depth", "depth_mask"):
        if key in sample:
            assert tuple(sample[key].shape) == size, f"{key!r} is not {size}"
    assert ("depth" in sample) == ("depth_mask" in sample), "depth and depth_mask go together"
    assert ("boxes" in sample) == ("labels" in sample), "boxes and labels go together"
    if "boxes" in sample:
        boxes, labels = sample["boxes"], sample["labels"]
        assert boxes.shape[-1] == 4 and boxes.shape[0] == labels.shape[0], "boxes/labels mismatch"
    if "meta" in sample:
        assert isinstance(sample["meta"], dict), "'meta' is not a dict"
