"""ELIC's space-channel context model "elic" (He et al. 2022, "ELIC: Efficient Learned Image
Compression with Unevenly Grouped Space-Channel Contextual Adaptive Coding", §3.2).

The channels are split in uneven groups (ELIC's 16, 16, 32, 64, 192 of 320, scaled to the
latent's width, :func:`elic_groups`). Group g is coded in two checkerboard passes: its anchors
from the side information and a channel context of groups < g; its non-anchors also from a
checkerboard-masked 5×5 spatial context over its own decoded anchors. The three feature sets are
aggregated by 1×1 convolutions into (μ, σ) (:class:`~hmcodec.entropy.gaussian.EntropyParameters`).
Decoding is ``2 × len(groups)`` whole-tensor passes. With a hyperprior (``hyperprior-elic``,
:mod:`hmcodec.entropy.hyperprior`) the side information starts with h_s(ẑ), as in ELIC.
"""

from __future__ import annotations

from typing import cast

import torch
from compressai.layers import CheckerboardMaskedConv2d
from torch import Tensor, nn

from hmcodec.entropy.base import ENTROPY_MODELS, float64_copy, spatial_size
from hmcodec.entropy.checkerboard import anchor_mask, context_at, pass_rows
from hmcodec.entropy.gaussian import (
    EntropyParameters,
    GaussianEntropyModel,
    GaussianTables,
    SymbolStep,
)
from hmcodec.entropy.grouped import GroupSizes, split_groups

#: ELIC's group sizes for a 320-channel latent (§3.2, Fig. 4).
ELIC_GROUPS = (16, 16, 32, 64, 192)


def elic_groups(channels: int) -> list[int]:
    """ELIC's uneven group sizes scaled to ``channels`` (each at least 1; the last takes the
    rest), e.g. 32 → [2, 2, 3, 6, 19]."""
    total = sum(ELIC_GROUPS)
    sizes: list[int] = []
    for size in ELIC_GROUPS[:-1]:
        left = channels - sum(sizes)
        if left <= 1:
            break
        sizes.append(min(max(1, round(channels * size / total)), left - 1))
    sizes.append(channels - sum(sizes))
    return sizes


class ChannelContext(nn.Sequential):
    """Features of the earlier groups for group g (ELIC's channel context: 5×5 convolutions)."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, hidden, 5, padding=2),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 5, padding=2),
        )


@ENTROPY_MODELS.register("elic")
class SpaceChannelModel(GaussianEntropyModel):
    """Uneven channel groups, each in two checkerboard passes (ELIC); parallel decoding.

    ``hidden`` is the width of the channel-context networks (default: the latent's width;
    ELIC's 224 for 320 channels is about 0.7×).
    """

    def __init__(
        self,
        channels: int,
        side_channels: int = 0,
        group_size: GroupSizes | None = None,
        hidden: int | None = None,
        kernel_size: int = 5,
        mean_levels: int = 4,
    ) -> None:
        super().__init__(channels, side_channels)
        self.kernel_size = kernel_size
        self.groups = split_groups(
            channels, elic_groups(channels) if group_size is None else group_size
        )
        self.spatial = nn.ModuleList(
            CheckerboardMaskedConv2d(
                stop - start,
                2 * (stop - start),
                kernel_size,
                padding=kernel_size // 2,
                mask_type="A",
            )
            for start, stop in self.groups
        )
        hidden = hidden or channels
        self.channel = nn.ModuleList(
            ChannelContext(start, 2 * (stop - start), hidden) if start else nn.Identity()
            for start, stop in self.groups
        )
        self.aggregation = nn.ModuleList(
            EntropyParameters(
                2 * (stop - start) * (2 if start else 1) + side_channels, stop - start
            )
            for start, stop in self.groups
        )
        self.tables = GaussianTables(mean_levels=mean_levels)

    @staticmethod
    def _features(spatial: Tensor, channel: Tensor | None, side: Tensor | None) -> Tensor:
        """The aggregation's input: spatial context, channel context (groups > 0), side."""
        parts = [spatial, *(t for t in (channel, side) if t is not None)]
        return torch.cat(parts, dim=1)

    def _channel(self, group: int, y_hat: Tensor, networks: nn.ModuleList) -> Tensor | None:
        start, _ = self.groups[group]
        return networks[group](y_hat[:, :start]) if start else None

    def gaussian(self, y_hat: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(μ, σ) of every symbol as the 2·G-pass decoder derives them (training precision)."""
        anchors = anchor_mask(*spatial_size(y_hat.shape), device=y_hat.device)
        means, scales = [], []
        for group, (start, stop) in enumerate(self.groups):
            spatial = self.spatial[group](y_hat[:, start:stop] * anchors) * ~anchors
            channel = self._channel(group, y_hat, self.channel)
            features = self._features(spatial, channel, side)
            mean, scale = self.aggregation[group](features).chunk(2, dim=1)
            means.append(mean)
            scales.append(scale)
        return torch.cat(means, dim=1), torch.cat(scales, dim=1)

    def walk(self, size: tuple[int, int], side: Tensor | None, step: SymbolStep) -> Tensor:
        """Group by group; inside a group its anchors, then its non-anchors (``where`` is a
        1×C×h×w boolean selection: channel-major, raster order inside a channel)."""
        self.check_side(side)
        side = side.double() if side is not None else None
        anchors = anchor_mask(*size)
        y_hat = torch.zeros(1, self.channels, *size, dtype=torch.float64)
        channels = float64_copy(self.channel)
        aggregation = float64_copy(self.aggregation)
        with torch.no_grad():
            for group, (start, stop) in enumerate(self.groups):
                conv = cast(CheckerboardMaskedConv2d, self.spatial[group])
                width = stop - start
                channel = self._channel(group, y_hat, channels)  # the same for both passes
                parameters = cast(EntropyParameters, aggregation[group])
                for index, selection in enumerate((anchors, ~anchors)):
                    positions = selection[0, 0]
                    count = int(positions.sum())
                    if not count:
                        continue
                    if index == 0:  # anchors: no spatial context
                        spatial = torch.zeros(count, 2 * width, dtype=torch.float64)
                    else:  # non-anchors: the group's decoded anchors (its only non-zeros)
                        spatial = context_at(conv, y_hat[:, start:stop], positions)
                    rows = pass_rows(spatial, positions, channel, side)
                    means, scales = parameters.of_rows(rows)
                    where = torch.zeros(1, self.channels, *size, dtype=torch.bool)
                    where[:, start:stop] = selection
                    values = step(where, means.reshape(-1), scales.reshape(-1))
                    y_hat[where] = values.double()
        return y_hat
