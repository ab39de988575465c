"""Mean-scale hyperprior (Ballé et al. 2018; Minnen et al. 2018), optionally with context.

z = h_a(ŷ) (two stride-2 convolutions) is rounded with straight-through gradients and coded
with the factorized density (:class:`~hmcodec.entropy.factorized.FactorizedModel`); the hyper
features h_s(ẑ) join the side information of a Gaussian entropy model of ŷ: the parallel
mean-scale hyperprior (``context=False``, Minnen 2018's "mean & scale hyperprior") or, with
``context=True``, Minnen 2018's joint model, which adds the serial masked 5×5 context of
:class:`~hmcodec.entropy.gaussian.ContextGaussianModel` (this class reuses its tables, entropy
parameters and serial walk). Latents of any size are zero-padded to a multiple of 4 for h_a and
h_s's output is cropped back; the decoder knows the latent size. Strings: ``[z, y]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmcodec.entropy.base import (
    ENTROPY_MODELS,
    LatentEntropyModel,
    float64_copy,
    spatial_size,
)
from hmcodec.entropy.coding import expect_strings
from hmcodec.entropy.factorized import FactorizedModel
from hmcodec.entropy.gaussian import ContextGaussianModel, EntropyParameters
from hmcodec.entropy.quantize import quantize

#: down-sampling factor of h_a.
HYPER_STRIDE = 4


def hyper_size(size: tuple[int, int]) -> tuple[int, int]:
    """Size of z for a latent of ``size`` (after padding it to a multiple of 4)."""
    return math.ceil(size[0] / HYPER_STRIDE), math.ceil(size[1] / HYPER_STRIDE)


@ENTROPY_MODELS.register("hyperprior")
class HyperpriorModel(ContextGaussianModel):
    """ŷ ~ N(μ, σ) with (μ, σ) from h_s(ẑ) ⊕ side information (⊕ serial context if ``context``).

    ``hyper_channels`` is the width of z (default: ``channels``); ``forward`` returns the
    likelihoods of ``"y"`` and ``"z"``.
    """

    def __init__(
        self,
        channels: int,
        side_channels: int = 0,
        hyper_channels: int | None = None,
        context: bool = False,
        kernel_size: int = 5,
        mean_levels: int = 4,
    ) -> None:
        hyper = hyper_channels or channels
        features = 2 * channels
        super().__init__(channels, side_channels + features, kernel_size, mean_levels)
        self.side_channels = side_channels  # the caller's side information only
        self.hyper_features = features
        self.use_context = context
        if not context:
            self.context = None
            self.entropy_parameters = EntropyParameters(features + side_channels, channels)
        self.h_a = nn.Sequential(
            nn.Conv2d(channels, hyper, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hyper, hyper, 5, stride=2, padding=2),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hyper, hyper, 5, stride=2, padding=2),
        )
        middle = max(channels * 3 // 2, 1)
        self.h_s = nn.Sequential(
            nn.ConvTranspose2d(hyper, hyper, 5, stride=2, padding=2, output_padding=1),
            nn.LeakyReLU(inplace=True),
            nn.ConvTranspose2d(hyper, middle, 5, stride=2, padding=2, output_padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(middle, features, 3, padding=1),
        )
        self.hyper = FactorizedModel(hyper)

    def check_side(self, side: Tensor | None) -> None:
        """What the inherited Gaussian sees as side information: h_s(ẑ) ⊕ the caller's side."""
        expected = self.hyper_features + self.side_channels
        if side is None or side.shape[1] != expected:
            raise ValueError(f"expected hyper features and side information ({expected} channels)")

    def _check_caller_side(self, side: Tensor | None) -> None:
        LatentEntropyModel.check_side(self, side)

    def _analysis(self, y_hat: Tensor) -> Tensor:
        height, width = y_hat.shape[-2:]
        padded = F.pad(y_hat, (0, -width % HYPER_STRIDE, 0, -height % HYPER_STRIDE))
        return self.h_a(padded)

    def _hyper_side(
        self, z_hat: Tensor, size: tuple[int, int], side: Tensor | None, exact: bool = False
    ) -> Tensor:
        """h_s(ẑ) cropped to the latent, followed by the side information (float64 if exact)."""
        synthesis = self.h_s
        if exact:  # coding path: identical float64 computation in encoder and decoder
            synthesis = float64_copy(self.h_s)
            z_hat = z_hat.double()
            side = side.double() if side is not None else None
        features = synthesis(z_hat)[..., : size[0], : size[1]]
        return features if side is None else torch.cat([features, side], dim=1)

    def forward(self, y_hat: Tensor, side: Tensor | None = None) -> dict[str, Tensor]:
        self._check_caller_side(side)
        z_hat = quantize(self._analysis(y_hat))
        z_likelihood = self.hyper(z_hat)["y"]
        extra = self._hyper_side(z_hat, spatial_size(y_hat.shape), side)
        if self.use_context:
            means, scales = self._gaussian(self.context(y_hat), extra)
        else:
            means, scales = self.entropy_parameters(extra).chunk(2, dim=1)
        return {"y": self.tables.likelihood(y_hat, means, scales), "z": z_likelihood}

    def _parallel(self, extra: Tensor) -> tuple[Tensor, Tensor]:
        """Bases and table indexes of every symbol at once (no context)."""
        with torch.no_grad():
            means, scales = float64_copy(self.entropy_parameters)(extra).chunk(2, dim=1)
            scales = scales.clamp_min(self.tables.scale_min)
            _, _, base, table = self.tables.snap(means, scales)
        return base, table

    def compress(self, y_hat: Tensor, side: Tensor | None = None) -> list[bytes]:
        self._check_caller_side(side)
        size = spatial_size(y_hat.shape)
        with torch.no_grad():
            z_hat = torch.round(self._analysis(y_hat.detach()))
        z_string = self.hyper.compress(z_hat)[0]
        extra = self._hyper_side(z_hat, size, side, exact=True)
        if self.use_context:
            return [z_string, super().compress(y_hat, extra)[0]]
        base, table = self._parallel(extra)
        symbols = y_hat.detach().round().long().cpu() - base
        return [z_string, self.tables.coder().encode(symbols, table)]

    def decompress(
        self, strings: list[bytes], size: tuple[int, int], side: Tensor | None = None
    ) -> Tensor:
        self._check_caller_side(side)
        size = spatial_size(size)
        strings = expect_strings(strings, 2)
        z_hat = self.hyper.decompress(strings[:1], hyper_size(size))
        extra = self._hyper_side(z_hat, size, side, exact=True)
        if self.use_context:
            return super().decompress(strings[1:], size, extra)
        base, table = self._parallel(extra)
        return (self.tables.coder().decode_all(strings[1], table) + base).float()

    def aux_loss(self) -> Tensor:
        return self.hyper.aux_loss()

    def update(self) -> None:
        self.tables.update()
        self.hyper.update()


@ENTROPY_MODELS.register("hyperprior-context")
def joint_model(channels: int, side_channels: int = 0, **kwargs: int) -> HyperpriorModel:
    """Minnen 2018's joint model (hyperprior + serial context), selectable by name alone."""
    return HyperpriorModel(channels, side_channels, context=True, **kwargs)
