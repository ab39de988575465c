"""Enhancement-layer methods: how the second output is coded given the decoded base latent.

Conditional/residual paper (arXiv 2305.02562) and task-compatible paper:

* ``conditional``: p(ŷ_e | h_c(ŷ_b)) — the base latent, through the side-information transform
  h_c, joins the context features of the enhancement entropy model (§3.2); x̂ = g_e(ŷ_e).
* ``residual``: a preview x_p = h_r(ŷ_b) is subtracted before analysis and added after
  synthesis: y_e = f_e(x − x_p), x̂ = g_e(ŷ_e) + x_p.
* ``standalone``: paper 002's upper baseline: a trained conditional layer with ŷ_b zeroed and
  its entropy model re-fitted (its rate alone counts).
* ``independent``: a separately trained layer that ignores the base (its rate alone counts).
* ``simulcast``: the lower baseline: the independent layer sent beside the base (both rates
  count).
* ``direct``: no enhancement layer; the output is synthesised from ŷ_b alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from hmcodec.codec.rate import GainUnit, descaled, scaled
from hmcodec.entropy import ENTROPY_MODELS, quantize
from hmcodec.entropy.base import float64_copy, spatial_size
from hmcodec.nn.transforms import (
    AnalysisTransform,
    SideInformationTransform,
    SynthesisTransform,
    TransformSize,
)
from hmcodec.registry import Registry

if TYPE_CHECKING:
    from hmcodec.codec.interface import EnhancementLayer

#: every entry offers :class:`~hmcodec.codec.interface.EnhancementLayer`; all but ``direct`` are
#: :class:`EnhancementMethod` subclasses, which code a layer.
ENHANCEMENTS: Registry[EnhancementLayer] = Registry("enhancement method")


class EnhancementMethod(nn.Module):
    """Base class: a layer with analysis f_e, quantiser, entropy model and synthesis g_e."""

    #: whether the method sends an enhancement chunk.
    has_layer: ClassVar[bool] = True
    #: whether decoding all layers gives an output beyond the base (an image or second task).
    has_output: ClassVar[bool] = True
    #: whether the base layer's rate counts towards this method's total rate.
    counts_base_rate: ClassVar[bool] = True
    #: whether the enhancement stage trains only the entropy model (``standalone``).
    trains_entropy_only: ClassVar[bool] = False

    def __init__(
        self,
        base_channels: int,
        channels: int,
        size: TransformSize,
        entropy: str = "context",
        side_channels: int = 32,
        quantizer: str = "ste",
        out_channels: int = 3,
        gain: GainUnit | None = None,
    ) -> None:
        super().__init__()
        self.quantizer = quantizer
        #: gain unit of a variable-rate layer (:mod:`hmcodec.codec.rate`), None if fixed-rate.
        self.gain = gain
        self.side_channels = side_channels if self.uses_side_information() else 0
        self.analysis = AnalysisTransform(3, channels, size)
        self.synthesis = SynthesisTransform(channels, out_channels, size)
        self.entropy = ENTROPY_MODELS.build(
            entropy, channels=channels, side_channels=self.side_channels
        )
        if self.side_channels:
            self.side_transform = SideInformationTransform(base_channels, self.side_channels)

    @classmethod
    def uses_side_information(cls) -> bool:
        return False

    def side(self, y_hat_b: Tensor, exact: bool = False) -> Tensor | None:
        if not self.side_channels:
            return None
        if exact:  # coding path: float64, identical in encoder and decoder
            return float64_copy(self.side_transform)(y_hat_b.double())
        return self.side_transform(y_hat_b)

    def preview(self, y_hat_b: Tensor) -> Tensor | None:
        return None

    def side_information(self) -> nn.Module | None:
        """The transform of ŷ_b this layer is conditioned on (h_c), None if it ignores ŷ_b."""
        return self.side_transform if self.side_channels else None

    def _output(self, y_hat_e: Tensor, y_hat_b: Tensor) -> Tensor:
        return self.synthesis(y_hat_e)

    def output(self, y_hat_e: Tensor, y_hat_b: Tensor) -> Tensor:
        """The layer's output (image or second task's input) from the de-scaled ŷ_e and ŷ_b."""
        return self._output(y_hat_e, y_hat_b)

    def _analyse(self, x: Tensor, y_hat_b: Tensor) -> Tensor:
        return self.analysis(x)

    def forward(self, x: Tensor, y_hat_b: Tensor, lmbda: float | None = None) -> dict[str, Any]:
        """Output, de-scaled ŷ_e and likelihoods; ``lmbda``: a variable-rate layer's λ_e."""
        y = scaled(self.gain, self._analyse(x, y_hat_b), lmbda)
        symbols = quantize(y, self.quantizer, self.training)
        likelihoods = self.entropy(symbols, self.side(y_hat_b))
        y_hat = descaled(self.gain, symbols, lmbda)
        return {"output": self._output(y_hat, y_hat_b), "y_hat": y_hat, "likelihoods": likelihoods}

    def compress(
        self, x: Tensor, y_hat_b: Tensor, lmbda: float | None = None
    ) -> tuple[list[bytes], Tensor]:
        """Strings and the coded integers (which the latent checksum covers)."""
        symbols = quantize(scaled(self.gain, self._analyse(x, y_hat_b), lmbda))
        return self.entropy.compress(symbols, self.side(y_hat_b, exact=True)), symbols

    def decompress(
        self, strings: list[bytes], y_hat_b: Tensor, lmbda: float | None = None
    ) -> tuple[Tensor, Tensor]:
        """Output and the decoded integers."""
        symbols = self.decompress_symbols(strings, y_hat_b)
        y_hat = descaled(self.gain, symbols, lmbda)
        return self._output(y_hat, y_hat_b), symbols

    def decompress_symbols(self, strings: list[bytes], y_hat_b: Tensor) -> Tensor:
        """The decoded integers, on ŷ_b's latent grid."""
        size = spatial_size(y_hat_b.shape)
        return self.entropy.decompress(strings, size, self.side(y_hat_b, exact=True))


@ENHANCEMENTS.register("conditional")
class ConditionalMethod(EnhancementMethod):
    """Entropy model of ŷ_e conditioned on h_c(ŷ_b) (conditional/residual paper §3.2)."""

    @classmethod
    def uses_side_information(cls) -> bool:
        return True


@ENHANCEMENTS.register("residual")
class ResidualMethod(EnhancementMethod):
    """Codes x − h_r(ŷ_b); x̂ = g_e(ŷ_e) + h_r(ŷ_b) (conditional/residual paper §3.1)."""

    def __init__(self, base_channels: int, channels: int, size: TransformSize, **kwargs: Any):
        super().__init__(base_channels, channels, size, **kwargs)
        self.preview_synthesis = SynthesisTransform(base_channels, 3, size)

    def preview(self, y_hat_b: Tensor) -> Tensor:
        return self.preview_synthesis(y_hat_b)

    def side_information(self) -> nn.Module:
        return self.preview_synthesis

    def _analyse(self, x: Tensor, y_hat_b: Tensor) -> Tensor:
        return self.analysis(x - self.preview(y_hat_b))

    def _output(self, y_hat_e: Tensor, y_hat_b: Tensor) -> Tensor:
        return self.synthesis(y_hat_e) + self.preview(y_hat_b)


@ENHANCEMENTS.register("standalone")
class StandaloneMethod(ConditionalMethod):
    """Upper baseline of paper 002 (§4): the trained conditional layer with its base zeroed.

    "The base representation is zeroed-out and the entropy model is fine-tuned on a frozen
    fully-trained model": the same analysis, synthesis and side transform as ``conditional``
    (start it with ``enhancement_from`` a trained conditional model), the side information
    h_c(0) instead of h_c(ŷ_b), and only the entropy model trained. Its own rate is reported;
    ``scalable-analysis`` adds the base rate for the simulcast comparison.
    """

    counts_base_rate = False
    #: the enhancement stage trains the entropy model only (the rest stays as loaded).
    trains_entropy_only = True

    def side(self, y_hat_b: Tensor, exact: bool = False) -> Tensor | None:
        return super().side(torch.zeros_like(y_hat_b), exact)


@ENHANCEMENTS.register("independent")
class IndependentMethod(EnhancementMethod):
    """A separately trained layer that ignores the base; only its own rate counts (the upper
    baseline before paper 002's construct, ``standalone``; it adds a second run's noise)."""

    counts_base_rate = False


@ENHANCEMENTS.register("simulcast")
class SimulcastMethod(EnhancementMethod):
    """Lower baseline: an independent layer sent beside the base; base + enhancement rates."""


@ENHANCEMENTS.register("direct")
class DirectMethod(nn.Module):
    """No enhancement layer: the output is synthesised from the base latent alone."""

    has_layer: ClassVar[bool] = False
    has_output: ClassVar[bool] = True
    counts_base_rate: ClassVar[bool] = True

    def __init__(
        self,
        base_channels: int,
        channels: int,
        size: TransformSize,
        out_channels: int = 3,
        **_: Any,
    ) -> None:
        super().__init__()
        self.synthesis = SynthesisTransform(base_channels, out_channels, size)

    def forward(self, x: Tensor, y_hat_b: Tensor, lmbda: float | None = None) -> dict[str, Any]:
        return {"output": self.synthesis(y_hat_b), "y_hat": None, "likelihoods": {}}

    def decompress(
        self, strings: list[bytes], y_hat_b: Tensor, lmbda: float | None = None
    ) -> tuple[Tensor, None]:
        return self.synthesis(y_hat_b), None
