"""Checkerboard spatial context decoded in two parallel passes (He et al. 2021).

"Checkerboard Context Model for Efficient Learned Image Compression" (He, Zheng, Sun, Wang and
Qin, CVPR 2021): the latent is split like a checkerboard. *Anchors* (positions with h + w even)
are coded first from side information alone (zero context); *non-anchors* are coded second with
a checkerboard-masked 5×5 context over the decoded anchors. Each pass is one whole-tensor
computation, so decoding costs two network evaluations instead of one per position (Minnen
2018's serial context, :class:`~hmcodec.entropy.gaussian.ContextGaussianModel`).

Training computes exactly what the two-pass decoder computes: the context sees the anchors only
and is zeroed at the anchors. The coder's parameters are computed in float64 with the same ops
on the same tensors in the encoder and the decoder (zero context for the anchors, the
anchors-only ŷ for the non-anchors), and use :class:`GaussianTables`' exact snapped tables, so
the trained likelihood is the coded probability.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from compressai.layers import CheckerboardMaskedConv2d
from torch import Tensor

from hmcodec.entropy.base import ENTROPY_MODELS, float64_copy, spatial_size
from hmcodec.entropy.gaussian import (
    EntropyParameters,
    GaussianEntropyModel,
    GaussianTables,
    SymbolStep,
)


def anchor_mask(height: int, width: int, device: torch.device | None = None) -> Tensor:
    """1×1×h×w boolean mask of the anchors (h + w even; the first position is an anchor)."""
    rows = torch.arange(height, device=device).view(-1, 1)
    cols = torch.arange(width, device=device).view(1, -1)
    return ((rows + cols) % 2 == 0).view(1, 1, height, width)


def context_at(conv: CheckerboardMaskedConv2d, y_hat: Tensor, positions: Tensor) -> Tensor:
    """float64 output of the masked context ``conv`` over ``y_hat`` (1×C×h×w, float64) at the
    ``positions`` (an h×w boolean mask), N×2C rows in raster order.

    Only the mask's taps (12 of 25 for a 5×5 kernel) are gathered, and only at the positions a
    pass codes, then multiplied with the taps' weights at once: about a quarter of the whole-
    tensor convolution's work for the non-anchors."""
    channels = y_hat.shape[1]
    pad = conv.kernel_size[0] // 2
    tap_rows, tap_cols = conv.mask[0, 0].nonzero(as_tuple=True)
    rows, cols = positions.nonzero(as_tuple=True)
    padded = F.pad(y_hat[0], (pad, pad, pad, pad))
    index = (rows[:, None] + tap_rows) * padded.shape[-1] + cols[:, None] + tap_cols  # N×T
    taps = padded.reshape(channels, -1)[:, index].permute(1, 0, 2)
    taps = taps.reshape(len(rows), channels * len(tap_rows))
    weight = conv.weight.detach().double()[:, :, tap_rows, tap_cols].reshape(len(conv.weight), -1)
    assert conv.bias is not None
    return F.linear(taps, weight, conv.bias.detach().double())


def pass_rows(context: Tensor, positions: Tensor, *maps: Tensor | None) -> Tensor:
    """One pass's feature rows: its context rows (N×2C), then each of the feature ``maps``
    (float64, 1×S×h×w; ``None`` skipped) at the same ``positions`` (an h×w boolean mask)."""
    rows = [context, *(m[0][:, positions].T for m in maps if m is not None)]
    return torch.cat(rows, dim=1) if len(rows) > 1 else context


@ENTROPY_MODELS.register("checkerboard")
class CheckerboardModel(GaussianEntropyModel):
    """Gaussian with a two-pass checkerboard context (He 2021); parallel decoding.

    With ``side_channels > 0`` the side information is concatenated with the context features
    before the entropy parameters (1×1 convolutions), as in the serial "context" model; the
    anchors then get their parameters from the side information alone.
    """

    def __init__(
        self, channels: int, side_channels: int = 0, kernel_size: int = 5, mean_levels: int = 4
    ) -> None:
        super().__init__(channels, side_channels)
        self.kernel_size = kernel_size
        self.context = CheckerboardMaskedConv2d(
            channels, 2 * channels, kernel_size, padding=kernel_size // 2, mask_type="A"
        )
        self.entropy_parameters = EntropyParameters(2 * channels + side_channels, channels)
        self.tables = GaussianTables(mean_levels=mean_levels)

    def gaussian(self, y_hat: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(μ, σ) of every symbol as the two-pass decoder derives them (training precision)."""
        anchors = anchor_mask(*spatial_size(y_hat.shape), device=y_hat.device)
        features = self.context(y_hat * anchors) * ~anchors
        if side is not None:
            features = torch.cat([features, side], dim=1)
        means, scales = self.entropy_parameters(features).chunk(2, dim=1)
        return means, scales

    def walk(self, size: tuple[int, int], side: Tensor | None, step: SymbolStep) -> Tensor:
        """Anchors, then non-anchors; each pass's symbols channel-major, raster order inside a
        channel (``where`` is the pass's C×h×w boolean selection)."""
        self.check_side(side)
        parameters = float64_copy(self.entropy_parameters)
        side = side.double() if side is not None else None
        anchors = anchor_mask(*size)
        y_hat = torch.zeros(1, self.channels, *size, dtype=torch.float64)
        with torch.no_grad():
            for index, selection in enumerate((anchors, ~anchors)):
                positions = selection[0, 0]
                count = int(positions.sum())
                if not count:
                    continue
                if index == 0:  # anchors: zero context
                    context = torch.zeros(count, 2 * self.channels, dtype=torch.float64)
                else:  # non-anchors: context of the decoded anchors (the only non-zeros)
                    context = context_at(self.context, y_hat, positions)
                means, scales = parameters.of_rows(pass_rows(context, positions, side))
                mask = selection.expand(1, self.channels, *size)
                y_hat[mask] = step(mask, means.reshape(-1), scales.reshape(-1)).double()
        return y_hat
