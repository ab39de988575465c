"""Hyperpriors as composition: a hyper codec hands ``params`` to any Gaussian context model.

z = h_a(ŷ) (two stride-2 convolutions) is rounded with straight-through gradients and coded
with the factorized density (:class:`~hmcodec.entropy.factorized.FactorizedModel`); the hyper
features h_s(ẑ) are the first channels of the side information of a
:class:`~hmcodec.entropy.gaussian.GaussianEntropyModel` of ŷ, followed by the caller's own side
information (an enhancement layer's h_c(ŷ_b)). This is the composition of CompressAI's
``HyperpriorLatentCodec`` (a hyper codec whose output is the ``params`` of a context codec):

* ``hyperprior`` — Minnen 2018's mean & scale hyperprior (:class:`MeanScaleModel`, no context);
* ``hyperprior-context`` — Minnen 2018's joint model (serial masked 5×5 context);
* ``hyperprior-checkerboard`` — He et al. 2021 (two parallel passes);
* ``hyperprior-elic`` — He et al. 2022, ELIC (uneven channel groups, checkerboard in each);
* ``hyperprior-channelwise`` and ``hyperprior-grouped`` — the same hyper codec over those models.

Latents of any size are zero-padded to a multiple of 4 for h_a and h_s's output is cropped
back; the decoder knows the latent size. Strings: ``[z, *the context model's]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmcodec.entropy.base import ENTROPY_MODELS, LatentEntropyModel, float64_copy, spatial_size
from hmcodec.entropy.coding import expect_strings
from hmcodec.entropy.factorized import FactorizedModel
from hmcodec.entropy.gaussian import (
    EntropyParameters,
    GaussianEntropyModel,
    GaussianTables,
    SymbolStep,
)
from hmcodec.entropy.quantize import quantize

#: down-sampling factor of h_a.
HYPER_STRIDE = 4


def hyper_size(size: tuple[int, int]) -> tuple[int, int]:
    """Size of z for a latent of ``size`` (after padding it to a multiple of 4)."""
    return math.ceil(size[0] / HYPER_STRIDE), math.ceil(size[1] / HYPER_STRIDE)


def hyper_features(channels: int) -> int:
    """Width of h_s(ẑ) for a latent of ``channels`` (Minnen 2018: twice the latent's)."""
    return 2 * channels


class MeanScaleModel(GaussianEntropyModel):
    """ŷ ~ N(μ, σ) with (μ, σ) from the side information alone, all symbols in one pass
    (Minnen 2018's mean & scale hyperprior once the side information is h_s(ẑ))."""

    def __init__(self, channels: int, side_channels: int, mean_levels: int = 4) -> None:
        if side_channels < 1:
            raise ValueError("the mean-scale model derives (μ, σ) from side information only")
        super().__init__(channels, side_channels)
        self.entropy_parameters = EntropyParameters(side_channels, channels)
        self.tables = GaussianTables(mean_levels=mean_levels)

    def gaussian(self, y_hat: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        assert side is not None  # check_side refuses None
        means, scales = self.entropy_parameters(side).chunk(2, dim=1)
        return means, scales

    def walk(self, size: tuple[int, int], side: Tensor | None, step: SymbolStep) -> Tensor:
        self.check_side(side)
        assert side is not None
        with torch.no_grad():
            means, scales = float64_copy(self.entropy_parameters)(side.double()).chunk(2, dim=1)
            return step((slice(None),), means, scales).double()


class HyperpriorModel(LatentEntropyModel):
    """A hyper codec (h_a, factorized ẑ, h_s) whose features join the side information of
    ``conditional``, a Gaussian model built for ``side_channels + hyper_features(channels)``.

    ``hyper_channels`` is the width of z (default: ``channels``); ``forward`` returns the
    context model's likelihoods and ``"z"``.
    """

    def __init__(
        self,
        channels: int,
        side_channels: int,
        conditional: GaussianEntropyModel,
        hyper_channels: int | None = None,
    ) -> None:
        super().__init__(channels, side_channels)
        features = hyper_features(channels)
        if (
            conditional.channels != channels
            or conditional.side_channels != features + side_channels
        ):
            raise ValueError(
                f"the context model must code {channels} channels with {features + side_channels} "
                "side channels (hyper features, then the caller's side information)"
            )
        hyper = hyper_channels or channels
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
        self.conditional = conditional

    def _analysis(self, y_hat: Tensor) -> Tensor:
        height, width = y_hat.shape[-2:]
        padded = F.pad(y_hat, (0, -width % HYPER_STRIDE, 0, -height % HYPER_STRIDE))
        return self.h_a(padded)

    def params(
        self, z_hat: Tensor, size: tuple[int, int], side: Tensor | None, exact: bool = False
    ) -> Tensor:
        """h_s(ẑ) cropped to the latent, then the caller's side information: the context
        model's side information (float64 on the coding path, identical in encoder and decoder)."""
        synthesis = self.h_s
        if exact:
            synthesis = float64_copy(self.h_s)
            z_hat = z_hat.double()
            side = side.double() if side is not None else None
        features = synthesis(z_hat)[..., : size[0], : size[1]]
        return features if side is None else torch.cat([features, side], dim=1)

    def forward(self, y_hat: Tensor, side: Tensor | None = None) -> dict[str, Tensor]:
        self.check_side(side)
        z_hat = quantize(self._analysis(y_hat))
        likelihoods = self.conditional(y_hat, self.params(z_hat, spatial_size(y_hat.shape), side))
        return {**likelihoods, "z": self.hyper(z_hat)["y"]}

    def compress(self, y_hat: Tensor, side: Tensor | None = None) -> list[bytes]:
        self.check_side(side)
        size = spatial_size(y_hat.shape)
        with torch.no_grad():
            z_hat = torch.round(self._analysis(y_hat.detach()))
        z_string = self.hyper.compress(z_hat)[0]
        params = self.params(z_hat, size, side, exact=True)
        return [z_string, *self.conditional.compress(y_hat, params)]

    def decompress(
        self, strings: list[bytes], size: tuple[int, int], side: Tensor | None = None
    ) -> Tensor:
        self.check_side(side)
        size = spatial_size(size)
        strings = expect_strings(strings, 2)
        z_hat = self.hyper.decompress(strings[:1], hyper_size(size))
        params = self.params(z_hat, size, side, exact=True)
        return self.conditional.decompress(strings[1:], size, params)

    def aux_loss(self) -> Tensor:
        return self.hyper.aux_loss() + self.conditional.aux_loss()

    def aux_parameters(self) -> list[nn.Parameter]:
        return [*self.hyper.aux_parameters(), *self.conditional.aux_parameters()]

    def update(self) -> None:
        self.conditional.update()
        self.hyper.update()


def _hyperprior_over(
    context_model: str | Callable[..., GaussianEntropyModel],
) -> Callable[..., HyperpriorModel]:
    """Builder of a hyperprior over ``context_model`` (a registered name or a class)."""

    def build(
        channels: int, side_channels: int = 0, hyper_channels: int | None = None, **kwargs: Any
    ) -> HyperpriorModel:
        builder = (
            ENTROPY_MODELS.get(context_model) if isinstance(context_model, str) else context_model
        )
        side = side_channels + hyper_features(channels)
        conditional = builder(channels=channels, side_channels=side, **kwargs)
        if not isinstance(conditional, GaussianEntropyModel):
            raise ValueError(f"a hyperprior needs a Gaussian context model, not {context_model!r}")
        return HyperpriorModel(channels, side_channels, conditional, hyper_channels)

    return build


ENTROPY_MODELS.register("hyperprior")(_hyperprior_over(MeanScaleModel))
for _name in ("context", "checkerboard", "channelwise", "grouped", "elic"):
    ENTROPY_MODELS.register(f"hyperprior-{_name}")(_hyperprior_over(_name))
