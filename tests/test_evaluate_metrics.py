"""PSNR-RGB and MS-SSIM: scales, layouts, small images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hmcodec.errors import ImageError
from hmcodec.evaluate.image_metrics import (
    MS_SSIM_MIN_SIDE,
    ms_ssim,
    ms_ssim_per_image,
    psnr,
    psnr_per_image,
)


def test_psnr_of_unit_error_on_uint8_is_48_13_db() -> None:
    a = np.full((8, 9, 3), 100, np.uint8)
    assert psnr(a, a + 1) == pytest.approx(10 * math.log10(255**2), abs=1e-9)


def test_psnr_float_tensor_matches_uint8_array() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    as_tensor = [torch.from_numpy(x).permute(2, 0, 1).float() / 255 for x in (a, b)]
    assert psnr(*as_tensor) == pytest.approx(psnr(a, b), abs=1e-4)


def test_psnr_identical_is_inf_and_grayscale_works() -> None:
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    assert psnr(gray, gray) == math.inf
    assert math.isfinite(psnr(gray, gray // 2))


def test_per_image_values_of_a_batch() -> None:
    x = torch.rand(3, 3, 16, 16)
    y = (x + 0.01 * torch.arange(1, 4).view(3, 1, 1, 1)).clamp(0, 1)
    values = psnr_per_image(x, y)
    assert len(values) == 3 and values[0] > values[1] > values[2]
    with pytest.raises(ImageError):
        psnr(x, y)


def test_ms_ssim_small_image_is_nan_without_crash() -> None:
    small = np.zeros((MS_SSIM_MIN_SIDE, 400, 3), np.uint8)
    assert math.isnan(ms_ssim(small, small))
    assert all(
        math.isnan(v) for v in ms_ssim_per_image(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    )


def test_ms_ssim_identical_is_one_and_degrades() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (MS_SSIM_MIN_SIDE + 1, 170, 3), dtype=np.uint8)
    noisy = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-5)
    assert ms_ssim(a, noisy) < 0.99


def test_mismatched_shapes_and_dtypes_are_refused() -> None:
    with pytest.raises(ImageError):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ImageError):
        psnr(np.zeros((4, 4, 3), np.int32), np.zeros((4, 4, 3), np.int32))
