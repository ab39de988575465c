"""Codecs (their layers, compress/decompress), enhancement methods and the public encode/decode.

Importing this package registers every architecture (``scalable``, ``split``,
``direct-features``) and enhancement method.
"""

from hmcodec.codec import (
    conditional_synthesis,  # noqa: F401  (registers its method)
    split,  # noqa: F401  (registers the split and direct-features codecs)
)
from hmcodec.codec.interface import Codec
from hmcodec.codec.layers import Decoded, Layer, LayerPayload
from hmcodec.codec.methods import ENHANCEMENTS
from hmcodec.codec.scalable import ARCHITECTURES, CodecConfig, ScalableCodec

__all__ = [
    "ARCHITECTURES",
    "ENHANCEMENTS",
    "Codec",
    "CodecConfig",
    "Decoded",
    "Layer",
    "LayerPayload",
    "ScalableCodec",
]
