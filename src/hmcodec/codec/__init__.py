"""Scalable codecs, their enhancement methods and the public encode/decode."""

from hmcodec.codec import conditional_synthesis  # noqa: F401  (registers its method)
from hmcodec.codec.methods import ENHANCEMENTS
from hmcodec.codec.scalable import CodecConfig, ScalableCodec

__all__ = ["ENHANCEMENTS", "CodecConfig", "ScalableCodec"]
