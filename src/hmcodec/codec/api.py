"""Encode an image into a layered `.hmc` stream and decode any prefix of its layers.

The base chunk alone yields the task output; base + enhancement yield the image. Each chunk
carries the CRC32 of its quantised latents: a decoder whose entropy parameters drifted from the
encoder's (another machine, library or thread count) says so instead of returning garbage.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from hmcodec.bitstream import LayerChunk, Stream
from hmcodec.checkpoint import LoadedModel
from hmcodec.codec.scalable import BASE, ENHANCEMENT, pad_to_stride
from hmcodec.errors import StreamError


def latent_crc(y_hat: Tensor) -> int:
    """CRC32 of integer latents as little-endian int32 in C order."""
    values = y_hat.detach().round().to(torch.int32).cpu().contiguous().numpy()
    return zlib.crc32(values.astype("<i4").tobytes())


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
def encode(model: LoadedModel, image: Tensor, source_mode: str = "RGB") -> Stream:
    """Code a float 3×H×W image in [0, 1] into a stream with every layer of the model."""
    codec = model.codec
    height, width = image.shape[-2:]
    x = pad_to_stride(image.unsqueeze(0).float(), codec.stride)
    y_hat_b = torch.round(codec.base_analysis(x))
    chunks = [LayerChunk(BASE, tuple(codec.base_entropy.compress(y_hat_b)), latent_crc(y_hat_b))]
    if codec.enhancement.has_layer:
        strings, y_hat_e = codec.enhancement.compress(x, y_hat_b)
        chunks.append(LayerChunk(ENHANCEMENT, tuple(strings), latent_crc(y_hat_e)))
    return Stream(model.fingerprint, height, width, source_mode, tuple(chunks))


def _checked(index: int, y_hat: Tensor, chunk: LayerChunk) -> Tensor:
    if latent_crc(y_hat) != chunk.latent_crc:
        raise StreamError(
            f"layer {index} decoded to other latents than the encoder's (latent checksum "
            "mismatch): the entropy model's parameters differ between encoder and decoder "
            "(another machine, library version or thread count)."
        )
    return y_hat


def check_model(model: LoadedModel, stream: Stream) -> None:
    if stream.fingerprint != model.fingerprint:
        raise StreamError(
            f"this stream was encoded with another model (fingerprint "
            f"{stream.fingerprint.hex()}), not with {model.name} ({model.fingerprint.hex()})."
        )


@torch.no_grad()
def decode(model: LoadedModel, stream: Stream, layers: str = "all") -> Decoded:
    """Decode ``"base"`` (task output) or ``"all"`` layers (task output and image, or second task).

    A machines-only codec (model splitting, direct feature coding) has only the base layer, so
    ``"all"`` gives its task prediction, as ``"base"`` does.
    """
    if layers not in ("base", "all"):
        raise ValueError(f"layers must be 'base' or 'all', not {layers!r}")
    check_model(model, stream)
    codec = model.codec
    height, width = stream.height, stream.width
    latent_size = (-(-height // codec.stride), -(-width // codec.stride))
    base_chunk = stream.chunk(BASE)
    y_hat_b = codec.base_entropy.decompress(list(base_chunk.strings), latent_size)
    y_hat_b = _checked(BASE, y_hat_b, base_chunk)
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
        output, y_hat_e = codec.enhancement.decompress(list(chunk.strings), y_hat_b)
        decoded.latents[ENHANCEMENT] = _checked(ENHANCEMENT, y_hat_e, chunk)
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
