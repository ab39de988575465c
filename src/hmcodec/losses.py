"""The rate and distortion terms of every loss, in one place (task-compatible paper, Eq. 3–4).

Rates are bits per pixel from the likelihoods of the coded symbols; image distortion is RMSE on
the 0–255 scale (the authors' code). Quality metrics for evaluation (PSNR, MS-SSIM) live in
:mod:`hmcodec.evaluate.image_metrics`; every function takes ``(reference, distorted)``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def bits_per_pixel(likelihoods: dict[str, Tensor], pixels: int) -> Tensor:
    """−Σ log₂ p over every coded symbol of ``likelihoods``, divided by ``pixels``."""
    if not likelihoods:
        return torch.zeros(())
    total: Tensor = sum((-torch.log2(lik)).sum() for lik in likelihoods.values())  # type: ignore[assignment]
    return total / pixels


def rmse_255(reference: Tensor, distorted: Tensor) -> Tensor:
    """Root mean squared error on the 0–255 scale over the whole batch (differentiable)."""
    return torch.sqrt(torch.mean((distorted - reference) ** 2) + 1e-12) * 255.0


def batch_psnr(reference: Tensor, distorted: Tensor) -> Tensor:
    """Mean PSNR (dB) of a batch of [0, 1] images, each clamped and scored on its own: the
    training log's view of :func:`hmcodec.evaluate.image_metrics.psnr_per_image` (a tensor)."""
    mse = ((distorted.clamp(0, 1) - reference) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).mean()
