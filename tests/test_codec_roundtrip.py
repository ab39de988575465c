"""Encode → bytes → decode reproduces the encoder's latents exactly, for every method, base
entropy model and image shape; the base-only stream gives the full decode's task output; the
rate estimate is the stream's size; damaged or foreign streams are refused, never decoded."""

from __future__ import annotations

import dataclasses
import zlib

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hmcodec.bitstream import LayerChunk, Stream
from hmcodec.codec.api import decode, encode, latent_crc
from hmcodec.codec.scalable import BASE, ENHANCEMENT, pad_to_stride
from hmcodec.errors import StreamError
from hmcodec.evaluate.learned import estimated_bits

METHODS = ["conditional", "residual", "standalone", "simulcast", "direct"]
LAYERED = [m for m in METHODS if m != "direct"]
BASE_ENTROPIES = ["context", "factorized"]
#: (height, width): odd, square, portrait, landscape, a single pixel, thinner than the stride.
SIZES = [(97, 131), (64, 64), (80, 48), (48, 80), (1, 1), (17, 3)]
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def encoder_side(model, image: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """The quantised latents and output the encoder sees, recomputed without the coder."""
    codec = model.codec
    with torch.no_grad():
        x = pad_to_stride(image[None], codec.stride)
        y_base = torch.round(codec.base_analysis(x))
        enhancement = codec.forward_enhancement(x, y_base)
    latents = {BASE: y_base}
    if codec.enhancement.has_layer:
        latents[ENHANCEMENT] = enhancement["y_hat"]
    return latents, enhancement["output"][0, :, : image.shape[1], : image.shape[2]].clamp(0, 1)


def reparsed(stream: Stream) -> Stream:
    return Stream.from_bytes(stream.to_bytes())


# --------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
@pytest.mark.parametrize("base_entropy", BASE_ENTROPIES)
@pytest.mark.parametrize("method", METHODS)
def test_decode_reproduces_the_encoders_latents(coding_model, shapes, method, base_entropy, size):
    model = coding_model(method, base_entropy)
    height, width = size
    image = shapes(height, width, index=SIZES.index(size))
    latents, output = encoder_side(model, image)
    assert latents[BASE].abs().sum() > 0, "the test model's latents are all zero"

    stream = encode(model, image)
    assert (stream.height, stream.width) == size
    assert stream.layer_indices() == tuple(latents)
    for chunk in stream.chunks:
        assert chunk.latent_crc == latent_crc(latents[chunk.index], height, width)

    decoded = decode(model, reparsed(stream), "all")
    assert decoded.layers == tuple(latents)
    assert set(decoded.latents) == set(latents)
    for index, expected in latents.items():
        assert torch.equal(decoded.latents[index], expected), f"layer {index} differs"
    assert decoded.image.shape == (3, height, width)
    torch.testing.assert_close(decoded.image, output, rtol=0, atol=1e-5)
    assert decoded.prediction.shape == (height, width)


@pytest.mark.parametrize("base_entropy", BASE_ENTROPIES)
@pytest.mark.parametrize("method", METHODS)
def test_extracted_base_stream_gives_the_full_decodes_prediction(
    coding_model, shapes, method, base_entropy
):
    model = coding_model(method, base_entropy)
    image = shapes(97, 131, index=7)
    stream = encode(model, image)
    full = decode(model, reparsed(stream), "all")
    base_only = reparsed(stream.select([BASE]))

    assert base_only.layer_indices() == (BASE,)
    assert base_only.chunk(BASE) == stream.chunk(BASE)
    decoded = decode(model, base_only, "base")
    assert decoded.layers == (BASE,)
    assert decoded.image is None
    assert torch.equal(decoded.latents[BASE], full.latents[BASE])
    assert decoded.prediction.shape == (97, 131)
    assert torch.equal(decoded.prediction, full.prediction)


RATE_CASES = [("conditional", "context"), ("conditional", "factorized"), ("residual", "context")]


@pytest.mark.parametrize(("method", "base_entropy"), RATE_CASES)
def test_stream_bytes_match_the_estimated_rate(rate_model, rate_images, method, base_entropy):
    """Per layer, payload bits are within 1 % of the entropy models' estimate (256×256 images:
    two that fitted the entropy models and one held out); the container adds < 64 bytes."""
    model = rate_model(method, base_entropy)
    report = []
    for index in (0, 1, 4):
        image = rate_images[index]
        stream = encode(model, image)
        estimate = estimated_bits(model, image)
        assert set(estimate) == set(stream.layer_indices())
        for chunk in stream.chunks:
            real = chunk.payload_bytes * 8
            error = (real - estimate[chunk.index]) / estimate[chunk.index]
            report.append(f"image {index} layer {chunk.index}: {real} bits, {error:+.3%}")
            assert real >= 8 * 800, "layer too small for a 1 % bound (fixed coder flush bytes)"
            assert abs(error) < 0.01, report[-1]
        report.append(f"image {index} container overhead {stream.overhead_bytes()} B")
        assert stream.overhead_bytes() < 64
        assert stream.overhead_bytes() == len(stream.to_bytes()) - sum(
            c.payload_bytes for c in stream.chunks
        )
    print(f"\n{method}/{base_entropy}: " + "; ".join(report))


# ------------------------------------------------------------------------------------ errors
def test_stream_of_another_model_is_refused_naming_both_fingerprints(coding_model, shapes):
    model, other = coding_model(seed=0), coding_model(seed=1)
    assert model.fingerprint != other.fingerprint
    stream = encode(model, shapes(32, 48))
    for layers in ("base", "all"):
        with pytest.raises(StreamError, match="another model") as error:
            decode(other, reparsed(stream), layers)
        assert stream.fingerprint.hex() in str(error.value)
        assert other.fingerprint.hex() in str(error.value)


@pytest.mark.parametrize("method", LAYERED)
def test_base_only_stream_cannot_give_the_image(coding_model, shapes, method):
    model = coding_model(method)
    base_only = reparsed(encode(model, shapes(32, 48)).select([BASE]))
    with pytest.raises(StreamError, match="only the base layer"):
        decode(model, base_only, "all")


def test_direct_method_decodes_its_image_from_the_base_layer_alone(coding_model, shapes):
    model = coding_model("direct")
    stream = encode(model, shapes(32, 48))
    assert stream.layer_indices() == (BASE,)
    assert decode(model, reparsed(stream), "all").image.shape == (3, 32, 48)


@pytest.fixture(scope="module")
def real_stream(coding_model, shapes) -> bytes:
    """A real two-layer stream with kilobyte-sized payloads (factorized base, 97×131)."""
    data = encode(coding_model("conditional", "factorized"), shapes(97, 131, index=3)).to_bytes()
    assert len(data) > 300
    return data


def test_every_truncation_and_every_single_bit_flip_is_refused(real_stream):
    for length in range(len(real_stream)):
        with pytest.raises(StreamError):
            Stream.from_bytes(real_stream[:length])
    for bit in range(len(real_stream) * 8):
        damaged = bytearray(real_stream)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(StreamError):
            Stream.from_bytes(bytes(damaged))


@PROPERTY
@given(data=st.data())
def test_truncated_or_bit_flipped_streams_raise_stream_error(real_stream, data):
    length = data.draw(st.integers(0, len(real_stream)), label="kept bytes")
    damaged = bytearray(real_stream[:length])
    if damaged:
        bits = st.integers(0, len(damaged) * 8 - 1)
        for bit in data.draw(st.lists(bits, max_size=3), label="flipped bits"):
            damaged[bit // 8] ^= 1 << (bit % 8)
    assume(bytes(damaged) != real_stream)
    with pytest.raises(StreamError):
        Stream.from_bytes(bytes(damaged))


@pytest.fixture(scope="module")
def real_decoded(coding_model, real_stream):
    return decode(coding_model("conditional", "factorized"), Stream.from_bytes(real_stream))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_forged_chunk_with_valid_crc_never_decodes_to_garbage(
    coding_model, real_stream, real_decoded, data
):
    """A chunk whose payload was damaged *before* its CRC was computed passes the container;
    the latent checksum must then refuse it, unless the latents are exactly the encoder's."""
    model = coding_model("conditional", "factorized")
    stream = Stream.from_bytes(real_stream)
    index = data.draw(st.sampled_from(stream.layer_indices()), label="layer")
    chunk = stream.chunk(index)
    payload = bytearray(chunk.strings[0])
    bit = data.draw(st.integers(0, len(payload) * 8 - 1), label="flipped bit")
    payload[bit // 8] ^= 1 << (bit % 8)
    kept = data.draw(st.integers(1, len(payload)), label="kept bytes")
    forged = LayerChunk(index, (bytes(payload[:kept]), *chunk.strings[1:]), chunk.latent_crc)
    chunks = tuple(forged if c.index == index else c for c in stream.chunks)
    forged_stream = reparsed(dataclasses.replace(stream, chunks=chunks))
    try:
        decoded = decode(model, forged_stream, "all")
    except StreamError as error:
        assert "checksum" in str(error) or "corrupt" in str(error)
        return
    for layer, latent in real_decoded.latents.items():
        assert torch.equal(decoded.latents[layer], latent)
    assert torch.equal(decoded.image, real_decoded.image)


def test_latent_crc_is_the_crc_of_little_endian_int32_seeded_with_the_size():
    latents = torch.tensor([[[[-2.0, 0.0], [1.0, 70000.0]]]])
    values = b"".join(v.to_bytes(4, "little", signed=True) for v in (-2, 0, 1, 70000))
    seed = zlib.crc32((29).to_bytes(4, "little") + (31).to_bytes(4, "little"))
    assert latent_crc(latents, 29, 31) == zlib.crc32(values, seed)
    assert latent_crc(latents, 29, 32) != latent_crc(latents, 29, 31)
