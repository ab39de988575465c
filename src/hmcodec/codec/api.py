"""Encode an image into a layered `.hmc` stream and decode any prefix of its layers.

Container glue around :class:`~hmcodec.codec.interface.Codec`, which codes the layers
(``compress``/``decompress``): the model's fingerprint, size limits, layer payloads to and from
stream chunks, and the sentences of every refusal. The base chunk alone yields the task output;
base + enhancement yield the image. Each chunk carries the CRC32 of its quantised latents, seeded
with the image size (:func:`latent_crc`): a decoder whose entropy parameters drifted from the
encoder's (another machine, library or thread count), or a stream whose size or payload was
altered, is refused instead of returning garbage. Sizes over the
:class:`~hmcodec.limits.SizeLimits` are refused before any work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from hmcodec.bitstream import Stream
from hmcodec.checkpoint import LoadedModel
from hmcodec.codec.layers import (
    BASE,
    LAYER_NAMES,
    CorruptLayerError,
    Decoded,
    LatentMismatchError,
    LayerError,
    LayerPayload,
    MissingLayerError,
    OperatingPointError,
    latent_crc,
    layer_name,
)
from hmcodec.errors import StreamError
from hmcodec.limits import DEFAULT_LIMITS, SizeLimits

if TYPE_CHECKING:
    from hmcodec.codec.interface import Codec

__all__ = [
    "Decoded",
    "check_model",
    "decode",
    "encode",
    "latent_crc",
    "operating_point",
    "stream_bpp",
]


def operating_point(
    codec: Codec, lmbda: Sequence[float] | None = None, quality: float | None = None
) -> dict[int, float]:
    """λ of every variable-rate layer of ``codec``, by layer index.

    ``lmbda`` gives one value per variable-rate layer, in layer order; ``quality`` ∈ [0, 1]
    places every such layer at the same position of its range (0: its lowest rate); with
    neither, quality 0.5. A fixed-rate codec takes neither. Errors are one-sentence ValueErrors.
    """
    ranges = codec.rate_ranges()
    if lmbda is not None and quality is not None:
        raise ValueError("give the operating point as λ or as quality, not both")
    if not ranges:
        if lmbda is not None or quality is not None:
            raise ValueError("this model is fixed-rate: it codes at the λ it was trained for")
        return {}
    names = ", ".join(
        f"{LAYER_NAMES[i]} {r.lmbda_min:g}–{r.lmbda_max:g}" for i, r in ranges.items()
    )
    if lmbda is not None:
        values = list(lmbda)
        if len(values) != len(ranges):
            raise ValueError(
                f"this model has {len(ranges)} variable-rate layer(s) ({names}): give "
                f"{len(ranges)} λ value(s), not {len(values)}"
            )
        return {
            index: rate.check(value, LAYER_NAMES[index])
            for (index, rate), value in zip(ranges.items(), values, strict=True)
        }
    position = 0.5 if quality is None else quality
    return {index: rate.from_quality(position) for index, rate in ranges.items()}


@torch.no_grad()
def encode(
    model: LoadedModel,
    image: Tensor,
    source_mode: str = "RGB",
    limits: SizeLimits = DEFAULT_LIMITS,
    lmbdas: dict[int, float] | None = None,
) -> Stream:
    """Code a float 3×H×W image in [0, 1] into a stream with every layer of the model.

    ``lmbdas``: the operating point of each variable-rate layer (:func:`operating_point`;
    default quality 0.5); each chunk records its layer's λ.
    """
    codec = model.codec
    height, width = (int(n) for n in image.shape[-2:])
    limits.check(height, width, "the image")
    point = operating_point(codec) if lmbdas is None else dict(lmbdas)
    payloads = codec.compress(image, point)
    chunks = tuple(payload.chunk() for payload in payloads)
    return Stream(model.fingerprint, height, width, source_mode, chunks)


def check_model(model: LoadedModel, stream: Stream) -> None:
    if stream.fingerprint != model.fingerprint:
        raise StreamError(
            f"this stream was encoded with another model (fingerprint "
            f"{stream.fingerprint.hex()}), not with {model.name} ({model.fingerprint.hex()})."
        )


def _refusal(error: LayerError) -> StreamError:
    """The sentence for a layer of a stream that the codec could not decode."""
    index, name = error.index, layer_name(error.index)
    if isinstance(error, MissingLayerError):  # the base's is the container's (stream.chunk)
        return StreamError(
            "this stream holds only the base layer; decode it with "
            "--layers base, or use the full stream for the image."
        )
    if isinstance(error, CorruptLayerError):
        return StreamError(f"layer {index} of the stream is corrupt: {error.detail}.")
    if isinstance(error, LatentMismatchError):
        return StreamError(
            f"layer {index} decoded to other latents than the encoder's (latent checksum "
            "mismatch): either the stream was altered (its declared image size or its payload), "
            "or the entropy model's parameters differ between encoder and decoder (another "
            "machine, library version or thread count)."
        )
    if isinstance(error, OperatingPointError) and error.kind == "fixed-rate":
        return StreamError(
            f"layer {index} of the stream gives an operating point (λ = "
            f"{error.lmbda:g}), but this model's {name} layer is fixed-rate."
        )
    if isinstance(error, OperatingPointError) and error.kind == "variable-rate":
        return StreamError(
            f"layer {index} of the stream gives no operating point, but this model's "
            f"{name} layer is variable-rate."
        )
    if isinstance(error, OperatingPointError):
        return StreamError(f"layer {index} of the stream is out of range: {error.detail}.")
    return StreamError(f"layer {index} of the stream cannot be decoded: {error.detail}.")


@torch.no_grad()
def decode(
    model: LoadedModel,
    stream: Stream,
    layers: str = "all",
    limits: SizeLimits = DEFAULT_LIMITS,
) -> Decoded:
    """Decode ``"base"`` (task output) or ``"all"`` layers (task output and image, or second task).

    A machines-only codec (model splitting, direct feature coding) has only the base layer, so
    ``"all"`` gives its task prediction, as ``"base"`` does. A declared size over ``limits`` is
    refused before any work; a layer whose entropy-coded string ends early, holds unread bytes
    or fails its latent checksum is refused with a :class:`StreamError`.
    """
    if layers not in ("base", "all"):
        raise ValueError(f"layers must be 'base' or 'all', not {layers!r}")
    check_model(model, stream)
    codec = model.codec
    height, width = stream.height, stream.width
    limits.check(height, width, "the stream's image")
    stream.chunk(BASE)  # a stream without its base layer is refused as the container says
    shape = codec.latent_shape(height, width)
    payloads = [LayerPayload.from_chunk(chunk, shape) for chunk in stream.chunks]
    try:
        return codec.decompress(payloads, (height, width), 1 if layers == "base" else None)
    except LayerError as error:
        raise _refusal(error) from None


def stream_bpp(stream: Stream) -> dict[str, float]:
    """Measured bits per pixel per layer (payload bytes) and in total (whole stream)."""
    pixels = stream.height * stream.width
    rates = {f"bpp_layer{c.index}": c.payload_bytes * 8 / pixels for c in stream.chunks}
    rates["bpp"] = len(stream.to_bytes()) * 8 / pixels
    return rates
