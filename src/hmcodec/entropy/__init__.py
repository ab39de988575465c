"""Quantisation and entropy models; every model is registered by name in ENTROPY_MODELS."""

from hmcodec.entropy import (  # noqa: F401
    channelwise,
    checkerboard,
    elic,
    factorized,
    gaussian,
    grouped,
    hyperprior,
)
from hmcodec.entropy.base import ENTROPY_MODELS, LatentEntropyModel
from hmcodec.entropy.quantize import quantize, scale_gradient

__all__ = ["ENTROPY_MODELS", "LatentEntropyModel", "quantize", "scale_gradient"]
