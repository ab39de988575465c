"""Discretised Gaussian entropy models (Minnen et al. 2018) with exact coder tables.

Each symbol's mean μ and scale σ are snapped to a fixed grid (log-spaced scales, ``mean_levels``
fractional mean offsets per unit) with straight-through gradients; the coded symbol is the
integer ŷ − ⌊μ_q⌋ and its CDF is the grid cell's table. Training, rate estimation and the
bitstream therefore use the same probabilities: measured bytes match the estimate up to the
coder's 16-bit precision. Outside training, a symbol far in the tail is charged what the coder
spends on it (:meth:`GaussianTables.coded_floor`) rather than the training bound.
"""

from __future__ import annotations

import math
import statistics
from abc import abstractmethod
from collections.abc import Callable

import torch
import torch.nn.functional as F
from compressai.layers import MaskedConv2d
from compressai.ops import LowerBound
from torch import Tensor, nn

from hmcodec.entropy.base import ENTROPY_MODELS, LatentEntropyModel, float64_copy, spatial_size
from hmcodec.entropy.coding import TableBuffers, build_cdf_tables, expect_strings

LIKELIHOOD_BOUND = 1e-9
#: CompressAI's rANS coder: probabilities are 16-bit frequencies of at least 1 (so no symbol in
#: a table costs more than 16 bits), and a value beyond its table is the overflow symbol followed
#: by its bypass code: a 4-bit group count (15 per group, then the rest) and 4-bit groups.
TABLE_PRECISION_BITS = 16
BYPASS_BITS = 4

#: Where a group of symbols sits in the 1×C×h×w latent: an index or a boolean mask, so that
#: ``latent[where]`` are the group's symbols in coding order.
Where = tuple[int | slice, ...] | Tensor
#: ``step(where, means, scales) -> values``: the coder's callback for one group of symbols,
#: given their float64 (μ, σ) shaped like ``latent[where]``; returns their integer values.
SymbolStep = Callable[[Where, Tensor, Tensor], Tensor]


def _normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-x * 2**-0.5)


class GaussianTables(TableBuffers, nn.Module):
    """The (scale, mean-offset) grid, its straight-through snapping and its CDF tables."""

    def __init__(
        self,
        scale_min: float = 0.11,
        scale_max: float = 64.0,
        num_scales: int = 64,
        mean_levels: int = 4,
        tail_mass: float = 1e-9,
    ) -> None:
        super().__init__()
        self.scale_min, self.scale_max = scale_min, scale_max
        self.num_scales, self.mean_levels, self.tail_mass = num_scales, mean_levels, tail_mass
        self.log_min = math.log(scale_min)
        self.log_step = (math.log(scale_max) - self.log_min) / (num_scales - 1)
        self.lower_bound_scale = LowerBound(scale_min)
        self.lower_bound_likelihood = LowerBound(LIKELIHOOD_BOUND)
        multiplier = -statistics.NormalDist().inv_cdf(tail_mass / 2)
        #: each scale level's table half-width (symbols −half … half + 1 around ⌊μ_q⌋)
        self.half_widths = torch.tensor(
            [
                math.ceil(math.exp(self.log_min + level * self.log_step) * multiplier)
                for level in range(num_scales)
            ]
        )
        self.register_buffer("cdf", torch.zeros(0, 0, dtype=torch.int32))
        self.register_buffer("cdf_length", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("offset", torch.zeros(0, dtype=torch.int32))

    def snap(self, means: Tensor, scales: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Grid values (μ_q, σ_q), the integer base ⌊μ_q⌋ and the table index of each symbol."""
        level = torch.round(
            (torch.log(scales.clamp_min(self.scale_min)) - self.log_min) / self.log_step
        ).clamp(0, self.num_scales - 1)
        scales_q = torch.exp(self.log_min + level * self.log_step)
        cell = torch.floor(means * self.mean_levels)
        means_q = (cell + 0.5) / self.mean_levels
        base = torch.div(cell, self.mean_levels, rounding_mode="floor")
        fraction = cell - base * self.mean_levels
        table = (level * self.mean_levels + fraction).long()
        return means_q, scales_q, base.long(), table

    def likelihood(self, values: Tensor, means: Tensor, scales: Tensor) -> Tensor:
        """P(values) under the snapped Gaussian, with straight-through gradients to μ and σ."""
        scales = self.lower_bound_scale(scales)
        means_q, scales_q, base, table = self.snap(means.detach(), scales.detach())
        means = means + (means_q - means).detach()
        scales = scales + (scales_q - scales).detach()
        distance = torch.abs(values - means)
        likelihood = _normal_cdf((0.5 - distance) / scales) - _normal_cdf(
            (-0.5 - distance) / scales
        )
        if self.training:
            return self.lower_bound_likelihood(likelihood)
        return torch.maximum(likelihood, self.coded_floor(values, base, table))

    def coded_floor(self, values: Tensor, base: Tensor, table: Tensor) -> Tensor:
        """The least probability the coder gives each (integer) value: 2⁻¹⁶ inside its table,
        the overflow symbol's 2⁻¹⁶ times its bypass code beyond it (CompressAI's
        ``rans_interface``). Outside training, the likelihood is at least this, so the rate
        estimate of a symbol far in a Gaussian's tail is what the coder spends on it, not the
        training bound's 30 bits (``LIKELIHOOD_BOUND``)."""
        half = self.half_widths.to(table.device)[table // self.mean_levels]
        index = torch.round(values).long() - base + half  # the coded value (offset −half)
        count = 2 * half + 2  # the table's symbols; index ``count`` is the overflow symbol
        raw = torch.where(index < 0, -2 * index - 1, 2 * (index - count)).clamp_min(0)
        groups = torch.zeros_like(raw)
        while bool((raw >> (BYPASS_BITS * groups)).gt(0).any()):
            groups += (raw >> (BYPASS_BITS * groups)).gt(0).long()
        escape = BYPASS_BITS * (groups // 15 + 1 + groups)
        inside = (index >= 0) & (index < count)
        bits = TABLE_PRECISION_BITS + torch.where(inside, torch.zeros_like(escape), escape)
        return torch.exp2(-bits.to(values.dtype))

    def update(self) -> None:
        """Build one 16-bit CDF per grid cell (float64, so the tables are exact and portable)."""
        pmfs, tails, lengths, offsets = [], [], [], []
        for level in range(self.num_scales):
            scale = math.exp(self.log_min + level * self.log_step)
            half = int(self.half_widths[level])
            support = torch.arange(-half, half + 2, dtype=torch.float64)
            for fraction in range(self.mean_levels):
                mean = (fraction + 0.5) / self.mean_levels
                pmf = _normal_cdf((support - mean + 0.5) / scale) - _normal_cdf(
                    (support - mean - 0.5) / scale
                )
                pmfs.append(pmf)
                tails.append(max(1.0 - float(pmf.sum()), 0.0))
                lengths.append(len(support) + 2)
                offsets.append(-half)
        self.cdf = build_cdf_tables(pmfs, tails)
        self.cdf_length = torch.tensor(lengths, dtype=torch.int32)
        self.offset = torch.tensor(offsets, dtype=torch.int32)


class EntropyParameters(nn.Sequential):
    """1×1 convolutions from context (+ side information) features to (μ, σ) (Minnen 2018)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        hidden1, hidden2 = max(in_channels * 5 // 3, 8), max(in_channels * 4 // 3, 8)
        super().__init__(
            nn.Conv2d(in_channels, hidden1, 1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden1, hidden2, 1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden2, 2 * channels, 1),
        )

    def of_rows(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, σ), each C×N, of N feature rows (N×in_channels; a parallel pass gives only the
        positions it codes): the 1×1 convolutions as matrix products."""
        for layer in self:
            if isinstance(layer, nn.Conv2d):
                rows = F.linear(rows, layer.weight[:, :, 0, 0], layer.bias)
            else:
                rows = layer(rows)
        means, scales = rows.T.chunk(2, dim=0)
        return means, scales


class GaussianEntropyModel(LatentEntropyModel):
    """The skeleton every Gaussian entropy model shares: a model states only how it derives
    (μ, σ) for training (:meth:`gaussian`) and in what order the coder visits the symbols
    (:meth:`walk`); likelihoods, tables, encoding and decoding live here, once.

    One walk serves the encoder and the decoder, so both derive the same float64 parameters
    from the same already-decoded symbols; the snapped grid of :class:`GaussianTables` makes the
    trained likelihood the coded probability.
    """

    tables: GaussianTables

    @abstractmethod
    def gaussian(self, y_hat: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(μ, σ) of every symbol as the decoder derives them (training precision)."""

    @abstractmethod
    def walk(self, size: tuple[int, int], side: Tensor | None, step: SymbolStep) -> Tensor:
        """Visit every symbol group in decoding order, calling ``step`` with its float64
        (μ, σ); returns the 1×C×h×w float64 latent filled with ``step``'s values."""

    def forward(self, y_hat: Tensor, side: Tensor | None = None) -> dict[str, Tensor]:
        self.check_side(side)
        means, scales = self.gaussian(y_hat, side)
        return {"y": self.tables.likelihood(y_hat, means, scales)}

    def coding_parameters(self, means: Tensor, scales: Tensor) -> tuple[Tensor, Tensor]:
        """Integer bases ⌊μ_q⌋ and table indexes of symbols with parameters (μ, σ)."""
        _, _, base, table = self.tables.snap(means, scales.clamp_min(self.tables.scale_min))
        return base, table

    def compress(self, y_hat: Tensor, side: Tensor | None = None) -> list[bytes]:
        values = y_hat.detach().round().long().cpu()
        symbols, tables = [], []

        def step(where: Where, means: Tensor, scales: Tensor) -> Tensor:
            base, table = self.coding_parameters(means, scales)
            selected = values[where]
            symbols.append((selected - base).reshape(-1))
            tables.append(table.reshape(-1))
            return selected

        self.walk(spatial_size(y_hat.shape), side, step)
        return [self.tables.coder().encode(torch.cat(symbols), torch.cat(tables))]

    def decompress(
        self, strings: list[bytes], size: tuple[int, int], side: Tensor | None = None
    ) -> Tensor:
        (string,) = expect_strings(strings, 1)
        decoder = self.tables.coder().decoder(string)

        def step(where: Where, means: Tensor, scales: Tensor) -> Tensor:
            base, table = self.coding_parameters(means, scales)
            return decoder.decode(table) + base

        y_hat = self.walk(spatial_size(size), side, step).float()
        decoder.finish()
        return y_hat

    def update(self) -> None:
        self.tables.update()


@ENTROPY_MODELS.register("context")
class ContextGaussianModel(GaussianEntropyModel):
    """Gaussian with a masked 5×5 spatial context, decoded in raster order (Minnen 2018).

    With ``side_channels > 0`` the side information h_c(ŷ_b) is concatenated with the context
    features before the entropy parameters (conditional/residual paper §3.2, conditional coding).
    """

    def __init__(
        self, channels: int, side_channels: int = 0, kernel_size: int = 5, mean_levels: int = 4
    ) -> None:
        super().__init__(channels, side_channels)
        self.kernel_size = kernel_size
        self.context = MaskedConv2d(
            channels, 2 * channels, kernel_size, padding=kernel_size // 2, mask_type="A"
        )
        self.entropy_parameters = EntropyParameters(2 * channels + side_channels, channels)
        self.tables = GaussianTables(mean_levels=mean_levels)

    def gaussian(self, y_hat: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        features = self.context(y_hat)
        if side is not None:
            features = torch.cat([features, side], dim=1)
        means, scales = self.entropy_parameters(features).chunk(2, dim=1)
        return means, scales

    def walk(self, size: tuple[int, int], side: Tensor | None, step: SymbolStep) -> Tensor:
        """Raster order, one position (all channels) at a time."""
        self.check_side(side)
        weight = (self.context.weight * self.context.mask).detach().double()
        bias = self.context.bias.detach().double()
        parameters = float64_copy(self.entropy_parameters)
        k, pad = self.kernel_size, self.kernel_size // 2
        height, width = size
        padded = torch.zeros(1, self.channels, height + 2 * pad, width + 2 * pad).double()
        side = side.double() if side is not None else None
        with torch.no_grad():
            for h in range(height):
                for w in range(width):
                    features = F.conv2d(padded[:, :, h : h + k, w : w + k], weight, bias)
                    if side is not None:
                        features = torch.cat([features, side[:, :, h : h + 1, w : w + 1]], 1)
                    means, scales = parameters(features).chunk(2, dim=1)
                    where = (slice(None), slice(None), h, w)
                    values = step(where, means[:, :, 0, 0], scales[:, :, 0, 0])
                    padded[:, :, h + pad, w + pad] = values.double()
        return padded[:, :, pad : pad + height, pad : pad + width]
