"""Reading images: every Pillow mode we can code becomes RGB with a notice; what cannot be coded
is one ImageError; converted images go through encode/decode, their mode kept in the stream."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from hmcodec.bitstream import read_stream
from hmcodec.errors import ImageError
from hmcodec.io import read_image

HEIGHT, WIDTH = 23, 37  # odd on purpose


def _pattern(channels: int, peak: int = 255, dtype=np.uint8) -> np.ndarray:
    """A deterministic gradient-and-noise array of HEIGHT×WIDTH(×channels)."""
    rng = np.random.default_rng(channels)
    shape = (HEIGHT, WIDTH) if channels == 1 else (HEIGHT, WIDTH, channels)
    return rng.integers(0, peak + 1, size=shape).astype(dtype)


def _rgb(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.float32) / 255.0).permute(2, 0, 1)


def make_l(path):
    grey = _pattern(1)
    Image.fromarray(grey, mode="L").save(path / "grey.png")
    return path / "grey.png", np.repeat(grey[..., None], 3, axis=2)


def make_p(path):
    rgb = _pattern(3)
    image = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    image.save(path / "palette.png")
    return path / "palette.png", np.asarray(image.convert("RGB"))


def make_rgba(path):
    rgba = _pattern(4)
    Image.fromarray(rgba, mode="RGBA").save(path / "alpha.png")
    return path / "alpha.png", rgba[..., :3]


def make_la(path):
    la = _pattern(2)
    Image.fromarray(la, mode="LA").save(path / "grey_alpha.png")
    return path / "grey_alpha.png", np.repeat(la[..., :1], 3, axis=2)


def make_i16(path):
    deep = _pattern(1, peak=65535, dtype=np.uint16)
    image = Image.fromarray(deep)
    assert image.mode == "I;16"
    image.save(path / "deep.png")
    grey = np.clip(np.round(deep / 65535.0 * 255.0), 0, 255).astype(np.uint8)
    return path / "deep.png", np.repeat(grey[..., None], 3, axis=2)


def make_cmyk(path):
    cmyk = Image.fromarray(_pattern(4), mode="CMYK")
    cmyk.save(path / "print.jpg", quality=95)
    with Image.open(path / "print.jpg") as decoded:
        assert decoded.mode == "CMYK"
        return path / "print.jpg", np.asarray(decoded.convert("RGB"))


CONVERTED = {
    "L": make_l,
    "P": make_p,
    "RGBA": make_rgba,
    "LA": make_la,
    "I;16": make_i16,
    "CMYK": make_cmyk,
}


@pytest.mark.parametrize("mode", CONVERTED)
def test_other_modes_are_converted_to_rgb_with_a_notice(tmp_path, hmcodec_log, mode):
    path, expected = CONVERTED[mode](tmp_path)
    image, source_mode = read_image(path)
    assert source_mode == mode
    assert image.dtype == torch.float32 and image.shape == (3, HEIGHT, WIDTH)
    torch.testing.assert_close(image, _rgb(expected), rtol=0, atol=1e-6)
    records = [r for r in hmcodec_log.records if r.name == "hmcodec"]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelno >= logging.INFO
    assert str(path) in records[0].getMessage() and mode in records[0].getMessage()


def test_rgb_is_read_exactly_and_silently(tmp_path, hmcodec_log):
    rgb = _pattern(3)
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    image, mode = read_image(tmp_path / "colour.png")
    assert mode == "RGB"
    assert torch.equal(image, _rgb(rgb))
    assert not [r for r in hmcodec_log.records if r.name == "hmcodec"]


def test_floating_point_images_are_refused(tmp_path):
    data = np.linspace(0, 1, HEIGHT * WIDTH, dtype=np.float32).reshape(HEIGHT, WIDTH)
    Image.fromarray(data).save(tmp_path / "float.tiff")
    with Image.open(tmp_path / "float.tiff") as check:
        assert check.mode == "F"
    with pytest.raises(ImageError, match="floating-point"):
        read_image(tmp_path / "float.tiff")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "does not exist"),
        (b"just some words\n", "not an image file"),
        (b"", "not an image file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "cannot read image|not an image file"),
    ],
    ids=["missing", "text", "empty", "broken-png"],
)
def test_unreadable_images_raise_image_error(tmp_path, content, says):
    path = tmp_path / "picture.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=says) as error:
        read_image(path)
    assert "\n" not in str(error.value)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ImageError):
        read_image(tmp_path)


@pytest.mark.parametrize("mode", CONVERTED)
def test_converted_images_code_end_to_end_through_the_cli(tmp_path, run_cli, model_file, mode):
    path, expected = CONVERTED[mode](tmp_path)
    stream_path, prefix = tmp_path / "image.hmc", tmp_path / "out" / "image"

    encoded = run_cli("encode", model_file, path, "-o", stream_path)
    assert encoded.code == 0, encoded.err
    assert f"hmcodec: {path}" in encoded.err  # the conversion notice, on stderr
    assert read_stream(stream_path).source_mode == mode

    info = run_cli("info", stream_path)
    assert info.code == 0, info.err
    assert f"{WIDTH}×{HEIGHT}, source mode {mode}" in info.out

    decoded = run_cli("decode", model_file, stream_path, "--layers", "all", "-o", prefix)
    assert decoded.code == 0, decoded.err
    with Image.open(f"{prefix}.png") as reconstruction:
        assert reconstruction.mode == "RGB"
        assert reconstruction.size == (WIDTH, HEIGHT)
