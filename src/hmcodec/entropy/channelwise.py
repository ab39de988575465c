"""The channel-grouped Gaussian entropy model "channelwise": channel-conditional groups without
spatial context (He et al. 2022, ELIC; Minnen & Singh 2020).

Group g's parameters come from the side information and groups < g in one whole-tensor pass, so
decoding is ``len(groups)`` parallel passes. Like ``grouped`` (:mod:`hmcodec.entropy.grouped`,
whose group splitting and scale mapping it shares) it predicts (μ, log σ) and uses
:class:`GaussianTables`' snapped parameters and exact tables; its coding paths run in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hmcodec.entropy.base import ENTROPY_MODELS, float64_copy
from hmcodec.entropy.gaussian import GaussianEntropyModel, GaussianTables, SymbolStep
from hmcodec.entropy.grouped import GroupSizes, log_scale_to_scale, split_groups, with_side


class GroupParameters(nn.Module):
    """ELIC-style parameter network of one channel group (5×5, 5×5, 1×1 convolutions).

    Outputs (μ, log σ). With no input (the first group and no side information) they are
    learned constants, stored divided by ``PRIOR_GAIN`` so that Adam moves them as fast as a
    network's outputs (an equalised learning rate, Karras et al. 2018).
    """

    PRIOR_GAIN = 10.0

    def __init__(self, in_channels: int, out_channels: int, hidden: int, kernel_size: int):
        super().__init__()
        self.out_channels = out_channels
        self.network: nn.Module | None = None
        self.prior: nn.Parameter | None = None
        if in_channels:
            self.network = nn.Sequential(
                nn.Conv2d(in_channels, hidden, kernel_size, padding=kernel_size // 2),
                nn.LeakyReLU(inplace=True),
                nn.Conv2d(hidden, hidden, kernel_size, padding=kernel_size // 2),
                nn.LeakyReLU(inplace=True),
                nn.Conv2d(hidden, out_channels, 1),
            )
        else:
            self.prior = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if self.network is not None:
            return self.network(x)
        assert self.prior is not None
        prior = self.PRIOR_GAIN * self.prior.to(x.dtype)
        return prior.expand(x.shape[0], -1, *x.shape[-2:])


@ENTROPY_MODELS.register("channelwise")
class ChannelGroupModel(GaussianEntropyModel):
    """Channel-conditional groups, no spatial context (He 2022, ELIC); parallel decoding.

    Group g's (μ, σ) come from [side, groups < g] in one whole-tensor pass per group.
    """

    def __init__(
        self,
        channels: int,
        side_channels: int = 0,
        group_size: GroupSizes = 16,
        hidden: int = 64,
        kernel_size: int = 5,
        mean_levels: int = 4,
    ) -> None:
        super().__init__(channels, side_channels)
        self.groups = split_groups(channels, group_size)
        self.networks = nn.ModuleList(
            GroupParameters(side_channels + start, 2 * (stop - start), hidden, kernel_size)
            for start, stop in self.groups
        )
        self.tables = GaussianTables(mean_levels=mean_levels)

    @staticmethod
    def _inputs(y_hat: Tensor, side: Tensor | None, start: int) -> Tensor:
        return with_side(side, y_hat, start)

    def gaussian(self, y_hat: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(μ, σ) of every symbol (training: every group from the whole ŷ at once)."""
        means, scales = [], []
        for network, (start, _) in zip(self.networks, self.groups, strict=True):
            mean, log_scale = network(self._inputs(y_hat, side, start)).chunk(2, dim=1)
            means.append(mean)
            scales.append(log_scale_to_scale(log_scale, self.tables.scale_max))
        return torch.cat(means, dim=1), torch.cat(scales, dim=1)

    def walk(self, size: tuple[int, int], side: Tensor | None, step: SymbolStep) -> Tensor:
        """One float64 pass per channel group (all its positions at once)."""
        self.check_side(side)
        networks = float64_copy(self.networks)
        side = side.double() if side is not None else None
        y_hat = torch.zeros(1, self.channels, *size, dtype=torch.float64)
        with torch.no_grad():
            for network, (start, stop) in zip(networks, self.groups, strict=True):
                means, log_scales = network(self._inputs(y_hat, side, start)).chunk(2, dim=1)
                scales = log_scale_to_scale(log_scales, self.tables.scale_max)
                where = (slice(None), slice(start, stop))
                y_hat[where] = step(where, means, scales).double()
        return y_hat
