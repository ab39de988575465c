"""Enhancement-layer methods: how the second output is coded given the decoded base latent.

Conditional/residual paper (arXiv 2305.02562) and task-compatible paper:

* ``conditional``: p(ŷ_e | h_c(ŷ_b)) — the base latent, through the side-information transform
  h_c, joins the context features of the enhancement entropy model (§3.2); x̂ = g_e(ŷ_e).
* ``residual``: a preview x_p = h_r(ŷ_b) is subtracted before analysis and added after
  synthesis: y_e = f_e(x − x_p), x̂ = g_e(ŷ_e) + x_p.
* ``standalone``: the upper baseline, a layer that ignores the base (its rate alone counts).
* ``simulcast``: the lower baseline: the standalone layer sent beside the base (both rates count).
* ``direct``: no enhancement layer; the output is synthesised from ŷ_b alone.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from hmcodec.entropy import ENTROPY_MODELS, quantize
from hmcodec.entropy.base import float64_copy
from hmcodec.nn.transforms import (
    AnalysisTransform,
    SideInformationTransform,
    SynthesisTransform,
    TransformSize,
)
from hmcodec.registry import Registry

ENHANCEMENTS: Registry[EnhancementMethod] = Registry("enhancement method")


class EnhancementMethod(nn.Module):
    """Base class: a layer with analysis f_e, quantiser, entropy model and synthesis g_e."""

    #: whether the method sends an enhancement chunk.
    has_layer = True
    #: whether decoding all layers gives an output beyond the base (an image or second task).
    has_output = True
    #: whether the base layer's rate counts towards this method's total rate.
    counts_base_rate = True

    def __init__(
        self,
        base_channels: int,
        channels: int,
        size: TransformSize,
        entropy: str = "context",
        side_channels: int = 32,
        quantizer: str = "ste",
        out_channels: int = 3,
    ) -> None:
        super().__init__()
        self.quantizer = quantizer
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

    def _output(self, y_hat_e: Tensor, y_hat_b: Tensor) -> Tensor:
        return self.synthesis(y_hat_e)

    def _analyse(self, x: Tensor, y_hat_b: Tensor) -> Tensor:
        return self.analysis(x)

    def forward(self, x: Tensor, y_hat_b: Tensor) -> dict[str, Any]:
        y_hat = quantize(self._analyse(x, y_hat_b), self.quantizer, self.training)
        likelihoods = self.entropy(y_hat, self.side(y_hat_b))
        return {"output": self._output(y_hat, y_hat_b), "y_hat": y_hat, "likelihoods": likelihoods}

    def compress(self, x: Tensor, y_hat_b: Tensor) -> tuple[list[bytes], Tensor]:
        y_hat = quantize(self._analyse(x, y_hat_b))
        return self.entropy.compress(y_hat, self.side(y_hat_b, exact=True)), y_hat

    def decompress(self, strings: list[bytes], y_hat_b: Tensor) -> tuple[Tensor, Tensor]:
        size = tuple(y_hat_b.shape[-2:])
        y_hat = self.entropy.decompress(strings, size, self.side(y_hat_b, exact=True))
        return self._output(y_hat, y_hat_b), y_hat


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

    def _analyse(self, x: Tensor, y_hat_b: Tensor) -> Tensor:
        return self.analysis(x - self.preview(y_hat_b))

    def _output(self, y_hat_e: Tensor, y_hat_b: Tensor) -> Tensor:
        return self.synthesis(y_hat_e) + self.preview(y_hat_b)


@ENHANCEMENTS.register("standalone")
class StandaloneMethod(EnhancementMethod):
    """Upper baseline: the enhancement layer ignores the base; only its own rate counts."""

    counts_base_rate = False


@ENHANCEMENTS.register("simulcast")
class SimulcastMethod(EnhancementMethod):
    """Lower baseline: a standalone layer sent beside the base; base + enhancement rates."""


@ENHANCEMENTS.register("direct")
class DirectMethod(nn.Module):
    """No enhancement layer: the output is synthesised from the base latent alone."""

    has_layer = False
    has_output = True
    counts_base_rate = True

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

    def forward(self, x: Tensor, y_hat_b: Tensor) -> dict[str, Any]:
        return {"output": self.synthesis(y_hat_b), "y_hat": None, "likelihoods": {}}

    def decompress(self, strings: list[bytes], y_hat_b: Tensor) -> tuple[Tensor, None]:
        return self.synthesis(y_hat_b), None
