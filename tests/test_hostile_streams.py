"""Crafted streams (valid CRCs, lying contents) are refused with the right sentence, and sizes
over the limits are refused before any work (issue 16)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hmcodec.bitstream import LayerChunk, Stream
from hmcodec.codec.api import decode, encode
from hmcodec.codec.scalable import BASE, ENHANCEMENT
from hmcodec.entropy.coding import CdfTables, CorruptStringError, build_cdf_tables
from hmcodec.errors import HmcodecError, StreamError
from hmcodec.limits import DEFAULT_LIMITS, SizeLimitError, SizeLimits

ENTROPY_MODELS = ["context", "checkerboard", "factorized", "hyperprior"]
DRIFT_WORDS = "differ between encoder and decoder"


def _resized(stream: Stream, height: int, width: int) -> Stream:
    """The same chunks under another declared size; ``to_bytes`` recomputes every CRC."""
    return Stream.from_bytes(dataclasses.replace(stream, height=height, width=width).to_bytes())


def _with_strings(stream: Stream, index: int, strings: tuple[bytes, ...]) -> Stream:
    chunks = tuple(
        LayerChunk(c.index, strings, c.latent_crc) if c.index == index else c for c in stream.chunks
    )
    return Stream.from_bytes(dataclasses.replace(stream, chunks=chunks).to_bytes())


@pytest.fixture(scope="module", params=ENTROPY_MODELS)
def model_and_stream(request, coding_model, shapes):
    model = coding_model("conditional", request.param)
    return model, encode(model, shapes(64, 64))


def test_size_over_the_limit_is_refused_before_any_decoding(coding_model, shapes, monkeypatch):
    model = coding_model("conditional", "context")
    stream = encode(model, shapes(64, 64))
    crafted = _resized(stream, 65535, 65535)

    def never(*args, **kwargs):
        raise AssertionError("the entropy decoder ran for a stream over the size limit")

    monkeypatch.setattr(model.codec.base_entropy, "decompress", never)
    with pytest.raises(SizeLimitError, match="65535×65535, and a side over 32768 pixels"):
        decode(model, crafted, "all")
    with pytest.raises(
        SizeLimitError,
        match=r"20000×20000 \(400,000,000 pixels\), over the limit of 8,000,000 pixels",
    ):
        decode(model, _resized(stream, 20000, 20000), "all")
    for height, width in [(2**32 - 1, 1), (2**20, 2**20), (1, 40000)]:
        with pytest.raises(SizeLimitError, match="a side over 32768 pixels"):
            decode(model, _resized(stream, height, width), "base")
    with pytest.raises(SizeLimitError, match="--max-pixels"):
        decode(model, _resized(stream, 4096, 4096), "all", limits=SizeLimits(max_pixels=10**6))


@pytest.mark.parametrize("size", [(512, 512), (2048, 2048), (128, 64), (64, 80)])
def test_a_larger_declared_size_is_refused_as_corrupt_not_as_drift(model_and_stream, size):
    model, stream = model_and_stream
    with pytest.raises(StreamError, match="corrupt") as caught:
        decode(model, _resized(stream, *size), "all")
    assert DRIFT_WORDS not in str(caught.value)
    assert str(caught.value).startswith("layer 0 of the stream is corrupt")


@pytest.mark.parametrize("size", [(63, 64), (64, 49), (17, 17)])
def test_a_smaller_declared_size_is_refused(model_and_stream, size):
    """Within the same latent grid (63×64) the strings decode as before, so only the size-seeded
    latent checksum can tell; a smaller grid leaves bytes unread."""
    model, stream = model_and_stream
    with pytest.raises(StreamError, match="layer 0"):
        decode(model, _resized(stream, *size), "all")


def test_decoding_an_untouched_stream_still_works(model_and_stream):
    model, stream = model_and_stream
    again = decode(model, Stream.from_bytes(stream.to_bytes()), "all")
    assert again.image is not None and again.image.shape[-2:] == (64, 64)


@pytest.mark.parametrize("layer", [BASE, ENHANCEMENT])
def test_wrong_string_count_is_refused(model_and_stream, layer):
    model, stream = model_and_stream
    strings = stream.chunk(layer).strings
    for forged in [(), (*strings, b"extra")]:
        with pytest.raises(StreamError, match=f"layer {layer} .*entropy-coded strings"):
            decode(model, _with_strings(stream, layer, forged), "all")


@pytest.mark.parametrize("layer", [BASE, ENHANCEMENT])
def test_unread_or_missing_payload_bytes_are_refused_as_corrupt(model_and_stream, layer):
    model, stream = model_and_stream
    strings = stream.chunk(layer).strings
    last = strings[-1]
    for forged_last in [last + b"\x00", last + b"\x12\x34\x56\x78", last[:-1], last[:4], b""]:
        forged = (*strings[:-1], forged_last)
        with pytest.raises(StreamError, match=f"layer {layer} of the stream is corrupt"):
            decode(model, _with_strings(stream, layer, forged), "all")


def test_every_refusal_is_the_projects_error_type(model_and_stream):
    """Random payload bytes with recomputed CRCs: refused (HmcodecError) or, very rarely, the
    original's exact latents; never another exception."""
    model, stream = model_and_stream
    generator = torch.Generator().manual_seed(0)
    for trial in range(6):
        layer = trial % 2
        strings = stream.chunk(layer).strings
        length = int(torch.randint(0, 2 * len(strings[-1]) + 2, (1,), generator=generator))
        noise = bytes(torch.randint(0, 256, (length,), generator=generator).tolist())
        with pytest.raises(HmcodecError):
            decode(model, _with_strings(stream, layer, (*strings[:-1], noise)), "all")


def test_encode_refuses_an_image_over_the_limit(coding_model, shapes):
    model = coding_model("conditional", "context")
    with pytest.raises(SizeLimitError, match="the image is 64×48"):
        encode(model, shapes(48, 64), limits=SizeLimits(max_pixels=1000))
    assert encode(model, shapes(48, 64), limits=SizeLimits(max_pixels=None)).height == 48


def test_limits_are_validated():
    assert DEFAULT_LIMITS.max_pixels == 8_000_000
    for bad in [0, -1, 2.5, "9"]:
        with pytest.raises(ValueError):
            SizeLimits(max_pixels=bad)  # type: ignore[arg-type]


def _tables() -> CdfTables:
    pmfs = [torch.tensor([0.1, 0.2, 0.4, 0.2, 0.1]), torch.tensor([0.05, 0.9, 0.05])]
    cdf = build_cdf_tables(pmfs, [1e-3, 1e-3])
    return CdfTables(cdf, torch.tensor([7, 5]), torch.tensor([-2, -1]))


def test_checked_decoder_accepts_exactly_the_encoders_string():
    tables = _tables()
    generator = torch.Generator().manual_seed(1)
    symbols = torch.randint(-2, 3, (2000,), generator=generator)
    indexes = (torch.arange(2000) % 2).int()
    symbols = torch.where(indexes == 1, symbols.clamp(-1, 1), symbols)
    string = tables.encode(symbols, indexes)
    assert torch.equal(tables.decode_all(string, indexes), symbols)
    decoder = tables.decoder(string)
    parts = [decoder.decode(indexes[i : i + 300]) for i in range(0, 2000, 300)]
    decoder.finish()
    assert torch.equal(torch.cat(parts), symbols)
    with pytest.raises(CorruptStringError, match="ends before its latents do"):
        tables.decode_all(string[: len(string) // 2], indexes)
    with pytest.raises(CorruptStringError, match="not the encoding"):
        tables.decode_all(string + b"\x00\x00\x00\x00", indexes)
    with pytest.raises(CorruptStringError, match="not the encoding"):
        tables.decode_all(string, indexes[:1000])


def test_checked_decoder_stops_early_on_a_short_string():
    """A string for 100 symbols asked for 10⁵: refused within the first pieces."""
    tables = _tables()
    indexes = torch.zeros(100, dtype=torch.int32)
    string = tables.encode(torch.ones(100, dtype=torch.int64), indexes)
    decoder = tables.decoder(string)
    pieces = 0
    with pytest.raises(CorruptStringError):
        for _ in range(1000):
            decoder.decode(torch.zeros(100, dtype=torch.int32))
            pieces += 1
    assert pieces < 5


def test_cli_refuses_a_24_megapixel_photo_at_once_and_names_the_flag(tmp_path, run_cli, model_file):
    from PIL import Image

    photo = tmp_path / "phone.png"
    Image.new("RGB", (6000, 4000), (90, 120, 200)).save(photo)
    output = tmp_path / "phone.hmc"
    result = run_cli("encode", model_file, photo, "-o", output)
    assert result.code == 2
    assert (
        "(24,000,000 pixels), over the limit of 8,000,000 pixels (raise it with --max-pixels"
        in result.err
    )
    assert len(result.err.strip().splitlines()) == 1
    assert not output.exists()


def test_cli_limits_apply_to_decode_and_can_be_lifted(tmp_path, run_cli, model_file, shapes):
    from hmcodec.checkpoint import load_model
    from hmcodec.io import write_png

    image = write_png(shapes(48, 64), tmp_path / "small.png")
    stream = tmp_path / "small.hmc"
    assert run_cli("encode", model_file, image, "-o", stream, "--max-pixels", "3072").code == 0
    refused = run_cli("decode", model_file, stream, "-o", tmp_path / "out", "--max-pixels", "3071")
    assert refused.code == 2 and "(3,072 pixels), over the limit of 3,071 pixels" in refused.err
    refused = run_cli("decode", model_file, stream, "-o", tmp_path / "out", "--max-side", "63")
    assert refused.code == 2 and "a side over 63 pixels" in refused.err
    lifted = run_cli("decode", model_file, stream, "-o", tmp_path / "out", "--max-pixels", "0")
    assert lifted.code == 0 and (tmp_path / "out.png").is_file()
    assert load_model(model_file).codec.stride > 1
    with pytest.raises(SystemExit):
        run_cli("decode", model_file, stream, "-o", tmp_path / "out", "--max-pixels", "-5")


@pytest.mark.parametrize("kind", ["1x1-png", "animated-gif"])
def test_odd_images_code_and_decode_at_their_size(tmp_path, run_cli, model_file, kind):
    """Odd inputs of the issue's list that must keep working: a 1×1 PNG, an animated GIF
    (its first frame is coded)."""
    from PIL import Image

    path = tmp_path / ("one.png" if kind == "1x1-png" else "anim.gif")
    if kind == "1x1-png":
        Image.new("RGB", (1, 1), (200, 10, 30)).save(path)
        size = (1, 1)
    else:
        frames = [Image.new("P", (23, 11), color) for color in (1, 2, 3)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
        size = (23, 11)
    stream = tmp_path / "odd.hmc"
    assert run_cli("encode", model_file, path, "-o", stream).code == 0
    assert run_cli("decode", model_file, stream, "-o", tmp_path / "odd").code == 0
    with Image.open(tmp_path / "odd.png") as decoded:
        assert decoded.size == size
