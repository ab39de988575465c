"""Classical codecs: real round trips on a Kodak crop (synthetic image when Kodak is absent)."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hmcodec.errors import ConfigError, ImageError
from hmcodec.evaluate.classical import (
    CODECS,
    available_codecs,
    encode_decode,
    get_codec,
    sweep,
)
from hmcodec.evaluate.image_metrics import psnr

DATA = Path(
    os.environ.get("HMCODEC_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
KODAK = DATA / "kodak"
PILLOW_AND_JXL = ["jpeg", "webp", "avif", "jpeg2000", "jpegxl"]


def synthetic(height: int = 176, width: int = 176, seed: int = 0) -> np.ndarray:
    """Smooth gradients, an edge and mild noise: compressible but not trivial."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack([x, y, (np.sin(8 * x) * np.cos(6 * y) + 1) / 2], axis=-1) * 200 + 20
    image[height // 3 :, : width // 2] = [30, 160, 60]
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A 176×176 crop of kodim23 (above MS-SSIM's 160-pixel minimum); synthetic without Kodak."""
    path = KODAK / "kodim23.png"
    if not path.exists():
        return synthetic()
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))[160:336, 300:476]


def test_registry_lists_all_codecs() -> None:
    assert set(CODECS.names()) == {*PILLOW_AND_JXL, "hevc"}
    assert all(available_codecs()[name] is None for name in PILLOW_AND_JXL)


@pytest.mark.parametrize("codec", PILLOW_AND_JXL)
def test_round_trip_bytes_and_psnr_follow_quality(codec: str, crop: np.ndarray) -> None:
    spec = get_codec(codec)
    qualities = sorted(spec.default_qualities)
    qualities = [qualities[0], qualities[len(qualities) // 2], qualities[-1]]
    results = [encode_decode(crop, codec, q) for q in qualities]
    for decoded, nbytes in results:
        assert decoded.shape == crop.shape and decoded.dtype == np.uint8 and nbytes > 0
    sizes = [n for _, n in results]
    psnrs = [psnr(crop, decoded) for decoded, _ in results]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3, sizes  # more quality, more bytes
    assert psnrs == sorted(psnrs), psnrs  # and higher PSNR
    assert 22 < psnrs[0] and psnrs[-1] < 60


@pytest.mark.parametrize("codec", PILLOW_AND_JXL)
def test_odd_sizes_and_grayscale(codec: str) -> None:
    quality = sorted(CODECS.build(codec).default_qualities)[-2]
    gray = synthetic(45, 67, seed=2)[:, :, 1]
    decoded, nbytes = encode_decode(gray, codec, quality)
    assert decoded.shape == (45, 67, 3) and nbytes > 0
    assert psnr(np.repeat(gray[:, :, None], 3, axis=2), decoded) > 25
    rgba = np.dstack([synthetic(33, 1, seed=3), np.full((33, 1), 255, np.uint8)])
    assert encode_decode(rgba, codec, quality)[0].shape == (33, 1, 3)


def test_sweep_computes_means_and_task_metrics(crop: np.ndarray) -> None:
    small = synthetic(64, 80, seed=4)  # too small for MS-SSIM: NaN, no crash
    images = [crop, crop[:, ::-1].copy()]
    calls: list[int] = []

    def task_fn(decoded: list[np.ndarray]) -> dict[str, float]:
        calls.append(len(decoded))
        return {"mean_level": float(np.mean([d.mean() for d in decoded]))}

    curve = sweep(images, "jpeg", [20, 80], task_fn=task_fn, names=["a", "b"], command="cmd")
    assert calls == [2, 2] and curve.name == "JPEG" and len(curve) == 2
    bpp0 = np.mean([encode_decode(im, "jpeg", 20)[1] * 8 / (176 * 176) for im in images])
    assert curve.bpp[0] == pytest.approx(bpp0)
    assert curve.values("psnr-rgb")[0] < curve.values("psnr-rgb")[1]
    assert 0 < curve.values("ms-ssim")[0] < curve.values("ms-ssim")[1] <= 1
    assert "mean_level" in curve.metrics()
    assert curve.provenance[0] | {"library": None} == {
        "codec": "jpeg",
        "quality": 20,
        "library": None,
        "images": 2,
        "command": "cmd",
    }
    assert [row["image"] for row in curve.per_image[1]] == ["a", "b"]
    assert math.isnan(sweep([small], "webp", [50]).values("ms-ssim")[0])


def test_lossless_like_image_gives_infinite_psnr_and_saves(tmp_path: Path) -> None:
    flat = np.full((24, 24, 3), 128, np.uint8)
    curve = sweep([flat], "jpeg2000", [2.0])
    assert curve.values("psnr-rgb")[0] == math.inf
    saved = json.loads(curve.save(tmp_path / "flat.json").read_text())
    assert saved["results"]["psnr-rgb"] == [None]  # non-finite → null in strict JSON


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ImageError):
        encode_decode(np.zeros((8, 8, 3), np.float32), "jpeg", 50)
    with pytest.raises(ConfigError, match="unknown classical codec"):
        encode_decode(synthetic(8, 8), "bpg", 50)
    with pytest.raises(ConfigError, match="integer in"):
        encode_decode(synthetic(8, 8), "webp", 101)


def test_hevc_is_reported_unavailable_without_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="hevc.*unavailable.*ffmpeg"):
        get_codec("hevc")


@pytest.mark.skipif(available_codecs()["hevc"] is not None, reason="no x265/ffmpeg on PATH")
def test_hevc_round_trip() -> None:
    image = synthetic(64, 96)
    (low, n_low), (high, n_high) = (encode_decode(image, "hevc", qp) for qp in (42, 22))
    assert low.shape == image.shape and n_high > n_low
    assert psnr(image, high) > psnr(image, low)
