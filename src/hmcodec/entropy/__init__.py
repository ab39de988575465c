"""Quantisation and entropy models; every model is registered by name in ENTROPY_MODELS."""

from hmcodec.compressai_lazy import install as _install_compressai

_install_compressai()  # before CompressAI's first import: no datasets, zoo, models

# ruff: noqa: E402
from hmcodec.entropy import (  # noqa: F401
    channelwise,
    checkerboard,
    factorized,
    gaussian,
    grouped,
    hyperprior,
)
from hmcodec.entropy.base import ENTROPY_MODELS, LatentEntropyModel
from hmcodec.entropy.quantize import quantize, scale_gradient

__all__ = ["ENTROPY_MODELS", "LatentEntropyModel", "quantize", "scale_gradient"]
