"""Reconstruction metrics, one implementation for the whole project: PSNR-RGB and MS-SSIM.

Layout and scale follow the input's type and dtype:

* numpy arrays are channels-last images: ``H×W``, ``H×W×C`` or a batch ``N×H×W×C``;
* torch tensors are channels-first: ``C×H×W`` or ``N×C×H×W``;
* ``uint8`` means 0–255; floating point means [0, 1] and is clamped to it (as CompressAI
  clamps ``x_hat``). PSNR is then computed on the 0–255 scale, MS-SSIM with ``data_range=1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from pytorch_msssim import ms_ssim as _pytorch_ms_ssim
from torch import Tensor

from hmcodec.errors import ImageError

ImageLike = np.ndarray | Tensor

#: MS-SSIM's default 11-pixel window is downsampled 4 times: the smaller side must exceed this.
MS_SSIM_MIN_SIDE = (11 - 1) * 2**4


def to_nchw(image: ImageLike) -> Tensor:
    """One image or a batch as a float64 ``N×C×H×W`` tensor in [0, 1]."""
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim == 3:
            image = image[None]
        if image.ndim != 4:
            raise ImageError(f"expected an H×W(×C) image array, got shape {image.shape}.")
        tensor = torch.tensor(image).permute(0, 3, 1, 2)
    elif isinstance(image, Tensor):
        tensor = image.detach().cpu()
        if tensor.ndim == 3:
            tensor = tensor[None]
        if tensor.ndim != 4:
            raise ImageError(f"expected a C×H×W or N×C×H×W tensor, got shape {tuple(image.shape)}.")
    else:
        raise ImageError(f"expected a numpy array or torch tensor, got {type(image).__name__}.")
    if tensor.dtype == torch.uint8:
        return tensor.to(torch.float64) / 255.0
    if tensor.is_floating_point():
        return tensor.to(torch.float64).clamp(0.0, 1.0)
    raise ImageError(f"images must be uint8 (0–255) or float in [0, 1], got {tensor.dtype}.")


def _pair(reference: ImageLike, distorted: ImageLike) -> tuple[Tensor, Tensor]:
    a, b = to_nchw(reference), to_nchw(distorted)
    if a.shape != b.shape:
        raise ImageError(
            f"cannot compare images of different shapes {tuple(a.shape)} and {tuple(b.shape)}."
        )
    return a, b


def psnr_per_image(reference: ImageLike, distorted: ImageLike) -> list[float]:
    """PSNR in dB on the 0–255 scale over all channels, one value per image (inf if identical)."""
    a, b = _pair(reference, distorted)
    mse = ((a - b) * 255.0).square().flatten(1).mean(dim=1)
    return [math.inf if m == 0 else 10.0 * math.log10(255.0**2 / float(m)) for m in mse]


def ms_ssim_per_image(reference: ImageLike, distorted: ImageLike) -> list[float]:
    """MS-SSIM (pytorch_msssim, ``data_range=1``) per image; NaN when a side is ≤ 160 pixels."""
    a, b = _pair(reference, distorted)
    if min(a.shape[-2:]) <= MS_SSIM_MIN_SIDE:
        return [math.nan] * a.shape[0]
    values = _pytorch_ms_ssim(a.float(), b.float(), data_range=1.0, size_average=False)
    return [float(v) for v in values]


def psnr(reference: ImageLike, distorted: ImageLike) -> float:
    """PSNR-RGB in dB of one image (see the module docstring for accepted layouts)."""
    return _single(psnr_per_image(reference, distorted))


def ms_ssim(reference: ImageLike, distorted: ImageLike) -> float:
    """MS-SSIM of one image; NaN (no exception) for images too small for its 5 scales."""
    return _single(ms_ssim_per_image(reference, distorted))


def _single(values: Sequence[float]) -> float:
    if len(values) != 1:
        raise ImageError(f"expected one image, got a batch of {len(values)}; use *_per_image.")
    return values[0]
