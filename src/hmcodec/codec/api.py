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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from hmcodec.bitstream import LayerChunk, Stream
from hmcodec.checkpoint import LoadedModel
from hmcodec.codec.methods import EnhancementMethod
from hmcodec.codec.rate import descaled
from hmcodec.codec.scalable import BASE, ENHANCEMENT, LAYER_NAMES, pad_to_stride
from hmcodec.entropy.coding import CorruptStringError
from hmcodec.errors import StreamError
from hmcodec.limits import DEFAULT_LIMITS, SizeLimits

if TYPE_CHECKING:
    from hmcodec.codec.interface import Codec


def latent_crc(y_hat: Tensor, height: int, width: int, lmbda: float | None = None) -> int:
    """CRC32 of integer latents as little-endian int32 in C order, seeded with the CRC32 of the
    image size (height, width as u32 LE) and, for a variable-rate layer, its λ (f64 LE): a
    rewritten size or operating point is caught even where the integers decode the same."""
    values = y_hat.detach().round().to(torch.int32).cpu().contiguous().numpy()
    header = struct.pack("<II", height, width)
    if lmbda is not None:
        header += struct.pack("<d", lmbda)
    return zlib.crc32(values.astype("<i4").tobytes(), zlib.crc32(header))


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


@dataclass
class Decoded:
    """What a decode gives: the base task's prediction and, with all layers, the output."""

    layers: tuple[int, ...]
    prediction: Any
    image: Tensor | None = None
    #: the enhancement layer's task output, for codecs whose second output is a task.
    secondary_prediction: Any = None
    #: the decoded latents ŷ of each layer (de-scaled: ŷ_q ⊙ g⁻¹(λ) for a variable-rate one).
    latents: dict[int, Tensor] = field(default_factory=dict)


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
    unknown = set(point) - set(codec.rate_ranges())
    if unknown:
        raise ValueError(f"layer {min(unknown)} of this model is not variable-rate")
    base_lmbda, enhancement_lmbda = point.get(BASE), point.get(ENHANCEMENT)
    x = pad_to_stride(image.unsqueeze(0).float(), codec.stride)
    base_chunk, symbols = encode_base(codec, x, height, width, base_lmbda)
    chunks = [base_chunk]
    enhancement = codec.enhancement
    if enhancement.has_layer:
        assert isinstance(enhancement, EnhancementMethod)  # only these send a layer
        y_hat_b = codec.base_latent(symbols, base_lmbda)
        strings, symbols_e = enhancement.compress(x, y_hat_b, enhancement_lmbda)
        crc = latent_crc(symbols_e, height, width, enhancement_lmbda)
        chunks.append(LayerChunk(ENHANCEMENT, tuple(strings), crc, enhancement_lmbda))
    return Stream(model.fingerprint, height, width, source_mode, tuple(chunks))


def encode_base(
    codec: Codec, x: Tensor, height: int, width: int, lmbda: float | None = None
) -> tuple[LayerChunk, Tensor]:
    """The base chunk of ``x`` (1×3×H'×W', already padded to the stride) and its integer
    latents: base analysis and rounding, the base entropy coder, the size-seeded checksum."""
    symbols = codec.base_symbols(x, lmbda)
    strings = tuple(codec.base_entropy.compress(symbols))
    return LayerChunk(BASE, strings, latent_crc(symbols, height, width, lmbda), lmbda), symbols


def _operating_lmbda(codec: Codec, chunk: LayerChunk) -> float | None:
    """The chunk's λ, checked against the model: present and in range iff the layer varies."""
    rate = codec.rate_ranges().get(chunk.index)
    name = LAYER_NAMES[chunk.index] if chunk.index < len(LAYER_NAMES) else str(chunk.index)
    if rate is None:
        if chunk.lmbda is not None:
            raise StreamError(
                f"layer {chunk.index} of the stream gives an operating point (λ = "
                f"{chunk.lmbda:g}), but this model's {name} layer is fixed-rate."
            )
        return None
    if chunk.lmbda is None:
        raise StreamError(
            f"layer {chunk.index} of the stream gives no operating point, but this model's "
            f"{name} layer is variable-rate."
        )
    try:
        return rate.check(chunk.lmbda, name)
    except ValueError as error:
        raise StreamError(f"layer {chunk.index} of the stream is out of range: {error}.") from None


def _checked(index: int, y_hat: Tensor, chunk: LayerChunk, stream: Stream) -> Tensor:
    if latent_crc(y_hat, stream.height, stream.width, chunk.lmbda) != chunk.latent_crc:
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
    base_lmbda = _operating_lmbda(codec, base_chunk)
    try:
        symbols = codec.base_entropy.decompress(list(base_chunk.strings), latent_size)
    except CorruptStringError as error:
        raise _corrupt(BASE, error) from None
    y_hat_b = codec.base_latent(_checked(BASE, symbols, base_chunk, stream), base_lmbda)
    image_like = codec.base_synthesis(y_hat_b)[..., :height, :width]
    decoded = Decoded((BASE,), codec.task.predict(image_like)[0], latents={BASE: y_hat_b})
    enhancement = codec.enhancement
    if layers == "base" or not enhancement.has_output:
        return decoded
    if enhancement.has_layer:
        assert isinstance(enhancement, EnhancementMethod)  # only these send a layer
        if ENHANCEMENT not in stream.layer_indices():
            raise StreamError(
                "this stream holds only the base layer; decode it with "
                "--layers base, or use the full stream for the image."
            )
        chunk = stream.chunk(ENHANCEMENT)
        lmbda = _operating_lmbda(codec, chunk)
        try:
            output, y_hat_e = enhancement.decompress(list(chunk.strings), y_hat_b, lmbda)
        except CorruptStringError as error:
            raise _corrupt(ENHANCEMENT, error) from None
        symbols_e = _checked(ENHANCEMENT, y_hat_e, chunk, stream)
        decoded.latents[ENHANCEMENT] = descaled(enhancement.gain, symbols_e, lmbda)
        decoded.layers = (BASE, ENHANCEMENT)
    else:
        output, _ = enhancement.decompress([], y_hat_b)
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
