"""Quantisation shared by training, rate estimation and coding.

Task-compatible paper §3.4: rounding with straight-through gradients, ŷ = ⌊y⌉, used as input to
the entropy model, the synthesis transforms and the rate in training and at test time alike; the
coded symbols are ⌊ŷ − μ⌉ and the decoder recovers ŷ = ⌊symbol + μ⌉. Here the mean μ of each
symbol is quantised to the entropy coder's table grid, which makes the symbol an exact integer
offset (see :mod:`hmcodec.entropy.gaussian`). Uniform noise (Ballé 2017) is an option for
training only.
"""

from __future__ import annotations

import torch
from torch import Tensor

QUANTIZERS = ("ste", "noise")


def quantize(y: Tensor, mode: str = "ste", training: bool = False) -> Tensor:
    """Round ``y`` to integers; ``ste`` passes gradients straight through.

    ``noise`` adds U(−½, ½) while ``training`` and rounds otherwise.
    """
    if mode not in QUANTIZERS:
        raise ValueError(f"unknown quantizer {mode!r}; use one of {QUANTIZERS}")
    if mode == "noise" and training:
        return y + torch.empty_like(y).uniform_(-0.5, 0.5)
    return y + (torch.round(y) - y).detach()


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    """Identity forward; multiplies the gradient flowing back through ``x`` by ``factor``.

    ``factor = 0`` detaches (the β = 0 baseline of the task-compatible paper).
    """
    if factor == 1.0:
        return x
    detached = x.detach()
    if factor == 0.0:
        return detached
    return detached + factor * (x - detached)
