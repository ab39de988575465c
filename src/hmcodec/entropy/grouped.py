"""The channel-grouped Gaussian entropy model "grouped" (serial, accurate) and the helpers it
shares with "channelwise" (:mod:`hmcodec.entropy.channelwise`).

* ``grouped`` — the "enhanced" entropy model of the conditional/residual paper (arXiv 2305.02562
  §3.3): the channels are split in groups of ``group_size``; a group sees the side information
  and every earlier group at all positions, and itself in raster-causal order through a stack
  of masked 5×5 convolutions (a type-A stem, then ``blocks`` residual blocks of three type-B
  convolutions with LeakyReLU and a learned per-channel skip scale, ``out = s·in + f(in)``).
  Decoding is serial: group by group, raster order inside a group. Every layer is evaluated
  once per position on its causal window, with the layers' earlier outputs cached, so decoding
  costs about one network evaluation per group (plus per-position overhead).
* ``channelwise`` (:mod:`hmcodec.entropy.channelwise`) — channel-conditional groups without
  spatial context, decoded in ``len(groups)`` parallel passes.

Both predict (μ, log σ) and use :class:`GaussianTables`' snapped parameters and exact tables,
so the training likelihood is the coded probability; the coding paths run in float64 and
evaluate identical ops on identical tensors in the encoder and the decoder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmcodec.entropy.base import ENTROPY_MODELS
from hmcodec.entropy.gaussian import GaussianEntropyModel, GaussianTables, SymbolStep

GroupSizes = int | Sequence[int]


def split_groups(channels: int, group_size: GroupSizes) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering ``channels``: equal groups (the last may be smaller) or
    the explicit sizes of a sequence (ELIC uses uneven ones, e.g. 16, 16, 32, 64, …)."""
    if isinstance(group_size, int):
        if group_size < 1:
            raise ValueError("group_size must be positive")
        sizes = [min(group_size, channels - s) for s in range(0, channels, group_size)]
    else:
        sizes = [int(s) for s in group_size]
        if any(s < 1 for s in sizes) or sum(sizes) != channels:
            raise ValueError(f"group sizes {sizes} do not add up to {channels} channels")
    bounds, start = [], 0
    for size in sizes:
        bounds.append((start, start + size))
        start += size
    return bounds


def log_scale_to_scale(raw: Tensor, scale_max: float = 64.0) -> Tensor:
    """σ = exp(raw), raw capped (straight through) just above the tables' largest scale.

    Deep parameter networks reach the wide scales of a latent by adding to log σ instead of
    multiplying every layer's gain, which keeps brief Adam training (lr ~ 2e-3) stable.
    """
    capped = raw.clamp(max=math.log(scale_max) + 1.0)
    return torch.exp(capped.detach() + (raw - raw.detach()))  # exact forward, identity gradient


def raster_mask(
    out_channels: int, visible: int, causal: int, kernel_size: int, mask_type: str
) -> Tensor:
    """Conv weight mask: ``visible`` input channels everywhere, ``causal`` ones raster-causal.

    Type A hides the centre (the symbol being coded), type B shows it (hidden features of the
    current position, which only depend on earlier symbols).
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask type must be 'A' or 'B', not {mask_type!r}")
    mask = torch.ones(out_channels, visible + causal, kernel_size, kernel_size)
    centre = kernel_size // 2
    causal_part = mask[:, visible:]
    causal_part[:, :, centre, centre + (mask_type == "B") :] = 0
    causal_part[:, :, centre + 1 :] = 0
    return mask


class MaskedConv(nn.Conv2d):
    """'Same'-padded convolution whose weight is multiplied by a fixed mask."""

    mask: Tensor  # a buffer (registered in __init__)

    def __init__(self, in_channels: int, out_channels: int, mask: Tensor) -> None:
        kernel_size = mask.shape[-1]
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.register_buffer("mask", mask)

    def masked_weight(self) -> Tensor:
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.masked_weight(), self.bias, padding=self.padding)


class ScaledResidualBlock(nn.Module):
    """``out = s·in + conv(σ(conv(σ(conv(in)))))`` with type-B masks and σ = LeakyReLU."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        convs = [
            MaskedConv(channels, channels, raster_mask(channels, 0, channels, kernel_size, "B"))
            for _ in range(3)
        ]
        self.convs = nn.ModuleList(convs)
        self.scale = nn.Parameter(torch.ones(channels))
        last_bias = convs[2].bias
        assert last_bias is not None  # nn.Conv2d's default bias=True
        nn.init.zeros_(convs[2].weight)  # every block starts as the identity, which
        nn.init.zeros_(last_bias)  # keeps the deep stack stable early in training

    def forward(self, x: Tensor) -> Tensor:
        t = F.leaky_relu(self.convs[0](x))
        t = F.leaky_relu(self.convs[1](t))
        return self.scale.view(1, -1, 1, 1) * x + self.convs[2](t)


class RasterStack(nn.Module):
    """One group's parameter network: type-A stem, residual type-B blocks, 1×1 head."""

    def __init__(
        self,
        visible: int,
        causal: int,
        out_channels: int,
        hidden: int,
        blocks: int,
        kernel_size: int,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stem = MaskedConv(
            visible + causal, hidden, raster_mask(hidden, visible, causal, kernel_size, "A")
        )
        self.blocks = nn.ModuleList(ScaledResidualBlock(hidden, kernel_size) for _ in range(blocks))
        self.head = nn.Conv2d(hidden, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(F.leaky_relu(x))


class PositionwiseStack:
    """Evaluates a :class:`RasterStack` one position at a time, in raster order, in float64.

    Each layer's output at (h, w) depends on its input at raster-earlier positions and on the
    current row only up to w (type-B masks), so computing every layer at (h, w) once, from
    cached outputs of earlier positions, reproduces the whole-tensor forward exactly (up to
    float rounding). The caches are zero outside the latent, like the forward's zero padding.
    """

    def __init__(self, stack: RasterStack, height: int, width: int) -> None:
        k = stack.kernel_size
        self.k, self.p = k, k // 2
        rows = self.p + 1  # type-B kernels: rows above and the current row

        def flat(conv: nn.Conv2d, causal_rows: bool) -> tuple[Tensor, Tensor]:
            weight = conv.masked_weight() if isinstance(conv, MaskedConv) else conv.weight
            weight = weight.detach().double()
            if causal_rows:
                weight = weight[:, :, :rows]
            assert conv.bias is not None  # every convolution of a RasterStack has a bias
            return weight.reshape(weight.shape[0], -1).contiguous(), conv.bias.detach().double()

        def convs(block: ScaledResidualBlock) -> list[MaskedConv]:
            return cast("list[MaskedConv]", list(block.convs))

        self.stem = flat(stack.stem, causal_rows=False)
        self.blocks = [
            ([flat(conv, causal_rows=True) for conv in convs(block)], block.scale.detach().double())
            for block in cast("list[ScaledResidualBlock]", list(stack.blocks))
        ]
        self.head = flat(stack.head, causal_rows=False)
        hidden = self.stem[0].shape[0]

        def cache() -> Tensor:  # zero padding: p rows on top, p columns either side
            return torch.zeros(hidden, height + self.p, width + 2 * self.p, dtype=torch.float64)

        self.x_caches = [cache() for _ in range(len(self.blocks) + 1)]
        self.t_caches = [(cache(), cache()) for _ in self.blocks]

    def at(self, inputs: Tensor, h: int, w: int) -> Tensor:
        """Head output at (h, w); ``inputs`` is the stack's input, zero-padded by p each side.

        Positions must be visited in raster order (the caches hold the earlier ones).
        """
        k, p = self.k, self.p
        ph, pw = h + p, w + p

        def layer(cache: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
            return F.linear(cache[:, h : h + p + 1, w : w + k].reshape(-1), weight, bias)

        x = F.linear(inputs[:, h : h + k, w : w + k].reshape(-1), *self.stem)
        self.x_caches[0][:, ph, pw] = x
        for index, ((c1, c2, c3), scale) in enumerate(self.blocks):
            t1, t2 = self.t_caches[index]
            t1[:, ph, pw] = F.leaky_relu(layer(self.x_caches[index], *c1))
            t2[:, ph, pw] = F.leaky_relu(layer(t1, *c2))
            x = scale * x + layer(t2, *c3)
            self.x_caches[index + 1][:, ph, pw] = x
        return F.linear(F.leaky_relu(x), *self.head)


def with_side(side: Tensor | None, y_hat: Tensor, stop: int) -> Tensor:
    """The fully visible prefix (side information) followed by channels [0, stop) of ŷ."""
    return y_hat[:, :stop] if side is None else torch.cat([side, y_hat[:, :stop]], dim=1)


@ENTROPY_MODELS.register("grouped")
class GroupedContextModel(GaussianEntropyModel):
    """The conditional/residual paper's "enhanced" model (arXiv 2305.02562 §3.3); serial.

    Group g's (μ, log σ) come from a :class:`RasterStack` over [side, groups < g, group g]; the
    side information and earlier groups are fully visible, group g raster-causal. ``hidden`` is
    the width of each group's stack; its residual branches start at zero (identity blocks).
    Decoding (and encoding) visit the symbols serially, see :meth:`walk`.
    """

    def __init__(
        self,
        channels: int,
        side_channels: int = 0,
        group_size: GroupSizes = 16,
        blocks: int = 5,
        hidden: int = 32,
        kernel_size: int = 5,
        mean_levels: int = 4,
    ) -> None:
        super().__init__(channels, side_channels)
        self.groups = split_groups(channels, group_size)
        self.kernel_size = kernel_size
        self.stacks = nn.ModuleList(
            RasterStack(
                side_channels + start, stop - start, 2 * (stop - start), hidden, blocks, kernel_size
            )
            for start, stop in self.groups
        )
        self.tables = GaussianTables(mean_levels=mean_levels)

    def gaussian(self, y_hat: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(μ, σ) of every symbol from the whole tensor (training; every group in one pass)."""
        means, scales = [], []
        for stack, (_, stop) in zip(self.stacks, self.groups, strict=True):
            mean, log_scale = stack(with_side(side, y_hat, stop)).chunk(2, dim=1)
            means.append(mean)
            scales.append(log_scale_to_scale(log_scale, self.tables.scale_max))
        return torch.cat(means, dim=1), torch.cat(scales, dim=1)

    def walk(self, size: tuple[int, int], side: Tensor | None, step: SymbolStep) -> Tensor:
        """Group by group, raster order inside a group; each step is one position of one
        group (``where = (0, slice(start, stop), h, w)``)."""
        self.check_side(side)
        height, width = size
        p = self.kernel_size // 2
        side = side.double() if side is not None else None
        y_hat = torch.zeros(1, self.channels, height, width, dtype=torch.float64)
        with torch.no_grad():
            for stack, (start, stop) in zip(self.stacks, self.groups, strict=True):
                visible = self.side_channels + start
                inputs = F.pad(with_side(side, y_hat, stop), (p, p, p, p))[0]
                network = PositionwiseStack(cast(RasterStack, stack), height, width)
                for h in range(height):
                    for w in range(width):
                        means, log_scales = network.at(inputs, h, w).chunk(2)
                        scales = log_scale_to_scale(log_scales, self.tables.scale_max)
                        where = (0, slice(start, stop), h, w)
                        inputs[visible:, h + p, w + p] = step(where, means, scales).double()
                y_hat[0, start:stop] = inputs[visible:, p : p + height, p : p + width]
        return y_hat
