"""Quantisation and entropy models; every model is registered by name in ENTROPY_MODELS."""

from hmcodec import compressai_lazy

compressai_lazy.install()  # before the first CompressAI import: its coder without its datasets


from hmcodec.entropy import (  # noqa: E402, F401
    channelwise,
    checkerboard,
    elic,
    factorized,
    gaussian,
    grouped,
    hyperprior,
)
from hmcodec.entropy.base import ENTROPY_MODELS, LatentEntropyModel  # noqa: E402
from hmcodec.entropy.quantize import quantize, scale_gradient  # noqa: E402

__all__ = ["ENTROPY_MODELS", "LatentEntropyModel", "quantize", "scale_gradient"]
