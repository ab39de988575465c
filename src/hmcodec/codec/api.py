"""Encode an image into a layered `.hmc` stream and decode any prefix of its layers.

The base chunk alone yields the task output; base + enhancement yield the image. Each chunk
carries the CRC32 of its quantised latents, seeded with the image size: a decoder whose entropy
parameters drifted from the encoder's (another machine, library or thread count), or a stream
whose size or payload was altered, is refused instead of returning garbage. Sizes over the
:class:`~hmcodec.limits.SizeLimits` are refused before any work.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from hmcodec.bitstream import LayerChunk, Stream
from hmcodec.checkpoint import LoadedModel
from hmcodec.codec.scalable import BASE, ENHANCEMENT, pad_to_stride
from hmcodec.entropy.coding import CorruptStringError
from hmcodec.errors import StreamError
from hmcodec.limits import DEFAULT_LIMITS, SizeLimits


def latent_crc(y_hat: Tensor, height: int, width: int) -> int:
    """CRC32 of integer latents as little-endian int32 in C order, seeded with the CRC32 of the
    image size (height, width as u32 LE), so a rewritten size is caught even within the grid."""
    values = y_hat.detach().round().to(torch.int32).cpu().contiguous().numpy()
    seed = zlib.crc32(struct.pack("<II", height, width))
    return zlib.crc32(values.astype("<i4").tobytes(), seed)


@dataclass
class Decoded:
    """What a decode gives: the base task's prediction and, with all layers, the output."""

    layers: tuple[int, ...]
    prediction: Any
    image: Tensor | None = None
    #: the enhancement layer's task output, for codecs whose second output is a task.
    secondary_prediction: Any = None
    latents: dict[int, Tensor] = field(default_factory=dict)


@torch.no_grad()
def encode(
    model: LoadedModel,
    image: Tensor,
    source_mode: str = "RGB",
    limits: SizeLimits = DEFAULT_LIMITS,
) -> Stream:
    """Code a float 3×H×W image in [0, 1] into a stream with every layer of the model."""
    codec = model.codec
    height, width = (int(n) for n in image.shape[-2:])
    limits.check(height, width, "the image")
    x = pad_to_stride(image.unsqueeze(0).float(), codec.stride)
    y_hat_b = torch.round(codec.base_analysis(x))
    base_strings = tuple(codec.base_entropy.compress(y_hat_b))
    chunks = [LayerChunk(BASE, base_strings, latent_crc(y_hat_b, height, width))]
    if codec.enhancement.has_layer:
        strings, y_hat_e = codec.enhancement.compress(x, y_hat_b)
        chunks.append(LayerChunk(ENHANCEMENT, tuple(strings), latent_crc(y_hat_e, height, width)))
    return Stream(model.fingerprint, height, width, source_mode, tuple(chunks))


def _checked(index: int, y_hat: Tensor, chunk: LayerChunk, stream: Stream) -> Tensor:
    if latent_crc(y_hat, stream.height, stream.width) != chunk.latent_crc:
        raise StreamError(
            f"layer {index} decoded to other latents than the encoder's (latent checksum "
            "mismatch): either the stream was altered (its declared image size or its payload), "
            "or the entropy model's parameters differ between encoder and decoder (another "
            "machine, library version or thread count)."
        )
    return y_hat


def _corrupt(index: int, error: CorruptStringError) -> StreamError:
    return StreamError(f"layer {index} of the stream is corrupt: {error}.")


def check_model(model: LoadedModel, stream: Stream) -> None:
    if stream.fingerprint != model.fingerprint:
        raise StreamError(
            f"this stream was encoded with another model (fingerprint "
            f"{stream.fingerprint.hex()}), not with {model.name} ({model.fingerprint.hex()})."
        )


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
    latent_size = (-(-height // codec.stride), -(-width // codec.stride))
    base_chunk = stream.chunk(BASE)
    try:
        y_hat_b = codec.base_entropy.decompress(list(base_chunk.strings), latent_size)
    except CorruptStringError as error:
        raise _corrupt(BASE, error) from None
    y_hat_b = _checked(BASE, y_hat_b, base_chunk, stream)
    image_like = codec.base_synthesis(y_hat_b)[..., :height, :width]
    decoded = Decoded((BASE,), codec.task.predict(image_like)[0], latents={BASE: y_hat_b})
    if layers == "base" or not codec.enhancement.has_output:
        return decoded
    if codec.enhancement.has_layer:
        if ENHANCEMENT not in stream.layer_indices():
            raise StreamError(
                "this stream holds only the base layer; decode it with "
                "--layers base, or use the full stream for the image."
            )
        chunk = stream.chunk(ENHANCEMENT)
        try:
            output, y_hat_e = codec.enhancement.decompress(list(chunk.strings), y_hat_b)
        except CorruptStringError as error:
            raise _corrupt(ENHANCEMENT, error) from None
        decoded.latents[ENHANCEMENT] = _checked(ENHANCEMENT, y_hat_e, chunk, stream)
        decoded.layers = (BASE, ENHANCEMENT)
    else:
        output, _ = codec.enhancement.decompress([], y_hat_b)
    output = output[..., :height, :width]
    if codec.secondary_task is not None:
        decoded.secondary_prediction = codec.secondary_task.predict(output)[0]
    else:
        decoded.image = output[0].clamp(0, 1)
    return decoded


def stream_bpp(stream: Stream) -> dict[str, float]:
    """Measured bits per pixel per layer (payload bytes) and in total (whole stream)."""
    pixels = stream.height * stream.width
    rates = {f"bpp_layer{c.index}": c.payload_bytes * 8 / pixels for c in stream.chunks}
    rates["bpp"] = len(stream.to_bytes()) * 8 / pixels
    return rates
