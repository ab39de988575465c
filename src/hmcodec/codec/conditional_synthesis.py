"""``conditional-synthesis``: conditional coding with decoder-side information in the synthesis.

Beyond the papers (issue 13). The conditional method of the conditional/residual paper (§3.2)
uses the base only in the entropy model, p(ŷ_e | h_c(ŷ_b)), and decodes x̂ = g_e(ŷ_e). Here the
synthesis sees the side information too:

    x̂ = g_e([ŷ_e, h_c(ŷ_b)])     (channel concatenation; h_c shared with the entropy model)

Coding with side information at both ends is never worse than residual coding in theory,
H(X | Y_b) ≤ H(X − X_p) for any preview X_p = h(Y_b) (conditioning reduces entropy), so this
method should reach at least the residual method's RD curve. Only the synthesis changes: the
entropy coding path (and so the bitstream) is the conditional method's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from hmcodec.codec.methods import ENHANCEMENTS, ConditionalMethod
from hmcodec.nn.transforms import SynthesisTransform, TransformSize


@ENHANCEMENTS.register("conditional-synthesis")
class ConditionalSynthesisMethod(ConditionalMethod):
    """p(ŷ_e | h_c(ŷ_b)) for the rate and x̂ = g_e([ŷ_e, h_c(ŷ_b)]) for the output."""

    def __init__(
        self, base_channels: int, channels: int, size: TransformSize, **kwargs: Any
    ) -> None:
        super().__init__(base_channels, channels, size, **kwargs)
        out_channels = kwargs.get("out_channels", 3)
        self.synthesis = SynthesisTransform(channels + self.side_channels, out_channels, size)

    def _output(self, y_hat_e: Tensor, y_hat_b: Tensor) -> Tensor:
        side = self.side(y_hat_b)
        assert side is not None  # uses_side_information() is True
        return self.synthesis(torch.cat([y_hat_e, side.to(y_hat_e.dtype)], dim=1))
