"""Fully factorized density (Ballé et al. 2018) on CompressAI's EntropyBottleneck.

The bottleneck's learned CDF gives each channel's probability of every integer; the coder's
tables are that same PMF at the integers, so estimate and bitstream agree.
"""

from __future__ import annotations

import torch
from compressai.ops import LowerBound
from torch import Tensor, nn

from hmcodec.entropy.base import ENTROPY_MODELS, LatentEntropyModel, spatial_size
from hmcodec.entropy.coding import TableBuffers, build_cdf_tables, expect_strings
from hmcodec.entropy.gaussian import LIKELIHOOD_BOUND


@ENTROPY_MODELS.register("factorized")
class FactorizedModel(TableBuffers, LatentEntropyModel):
    """Per-channel non-parametric density; no context, no side information."""

    def __init__(self, channels: int, side_channels: int = 0) -> None:
        if side_channels:
            raise ValueError("the factorized model takes no side information")
        super().__init__(channels, 0)
        # deferred: compressai.entropy_models imports scipy.stats (~2 s) at module level
        from compressai.entropy_models import EntropyBottleneck

        self.bottleneck = EntropyBottleneck(channels)
        self.lower_bound_likelihood = LowerBound(LIKELIHOOD_BOUND)
        self.register_buffer("cdf", torch.zeros(0, 0, dtype=torch.int32))
        self.register_buffer("cdf_length", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("offset", torch.zeros(0, dtype=torch.int32))

    def forward(self, y_hat: Tensor, side: Tensor | None = None) -> dict[str, Tensor]:
        self.check_side(side)
        values = y_hat.transpose(0, 1).reshape(self.channels, 1, -1)
        likelihood, _, _ = self.bottleneck._likelihood(values)
        likelihood = self.lower_bound_likelihood(likelihood)
        shape = (self.channels, y_hat.shape[0], *y_hat.shape[2:])
        return {"y": likelihood.reshape(shape).transpose(0, 1)}

    def aux_loss(self) -> Tensor:
        return self.bottleneck.loss()

    def aux_parameters(self) -> list[nn.Parameter]:
        return [self.bottleneck.quantiles]

    def update(self) -> None:
        quantiles = self.bottleneck.quantiles.detach()[:, 0]
        low = torch.floor(quantiles[:, 0]).long()
        high = torch.ceil(quantiles[:, 2]).long().maximum(low)
        pmfs, tails = [], []
        with torch.no_grad():
            for channel in range(self.channels):
                support = torch.arange(int(low[channel]), int(high[channel]) + 1).double()
                values = torch.zeros(self.channels, 1, len(support), dtype=torch.float64)
                values[channel, 0] = support
                pmf, lower, upper = self._channel_likelihood(values)
                pmfs.append(pmf[channel, 0])
                tails.append(
                    float(
                        torch.sigmoid(lower[channel, 0, 0]) + torch.sigmoid(-upper[channel, 0, -1])
                    )
                )
        self.cdf = build_cdf_tables(pmfs, tails)
        self.cdf_length = (high - low + 3).int()
        self.offset = low.int()

    def _channel_likelihood(self, values: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        bottleneck = self.bottleneck.double()
        try:
            return bottleneck._likelihood(values, stop_gradient=True)
        finally:
            self.bottleneck.float()

    def _indexes(self, size: tuple[int, int]) -> Tensor:
        return torch.arange(self.channels).view(1, -1, 1, 1).expand(1, -1, *size)

    def compress(self, y_hat: Tensor, side: Tensor | None = None) -> list[bytes]:
        coder = self.coder()
        return [coder.encode(y_hat.round().long(), self._indexes(spatial_size(y_hat.shape)))]

    def decompress(
        self, strings: list[bytes], size: tuple[int, int], side: Tensor | None = None
    ) -> Tensor:
        coder = self.coder()
        (string,) = expect_strings(strings, 1)
        return coder.decode_all(string, self._indexes(size)).float()
