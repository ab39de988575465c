"""Streams written by earlier hmcodec versions still decode bit-identically.

``tests/golden/v<version>/`` holds what ``tests/golden/make_golden.py`` wrote with that
version's code: two tiny models (gzipped model files), their streams, the decoded images and
the base predictions. Today's decoder must give the same pixels and labels, and today's encoder
the same payloads (a newer container around the same strings and checksums).
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hmcodec.bitstream import FORMAT_VERSION, read_stream
from hmcodec.checkpoint import load_model
from hmcodec.codec.api import decode, encode
from hmcodec.io import write_png

GOLDEN = Path(__file__).parent / "golden"
STREAMS = sorted(GOLDEN.glob("v*/*.hmc"))


def test_golden_streams_exist() -> None:
    versions = {path.parent.name for path in STREAMS}
    assert {"v2"} <= versions and len(STREAMS) >= 4


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, object]:
    cache: dict[Path, object] = {}
    folder = tmp_path_factory.mktemp("golden")
    for archive in GOLDEN.glob("v*/*.ckpt.gz"):
        target = folder / archive.parent.name / archive.name.removesuffix(".gz")
        target.parent.mkdir(exist_ok=True)
        with gzip.open(archive) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out)
        cache[archive.with_suffix("")] = load_model(target)
    return cache


def _model_of(stream_path: Path, models: dict[Path, object]):
    name = stream_path.stem.rsplit("-", 1)[0]
    return models[stream_path.parent / f"{name}.ckpt"]


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_stream_decodes_bit_identically(path: Path, models, tmp_path: Path) -> None:
    model = _model_of(path, models)
    stream = read_stream(path)
    assert path.read_bytes()[3] == int(path.parent.name[1:])
    decoded = decode(model, stream, "all")
    np.testing.assert_array_equal(np.asarray(decoded.prediction), np.load(path.with_suffix(".npy")))
    ours = write_png(decoded.image, tmp_path / "decoded.png")
    np.testing.assert_array_equal(
        np.asarray(Image.open(ours)), np.asarray(Image.open(path.with_suffix(".png")))
    )


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_todays_encoder_writes_the_same_payloads(path: Path, models) -> None:
    """The golden PNG is the decoded image, not the source: re-encode the source instead."""
    maker = _maker()
    model = _model_of(path, models)
    old = read_stream(path)
    ((height, width, index),) = [i for i in maker.IMAGES if (i[1], i[0]) == (old.width, old.height)]
    new = encode(model, maker.image(height, width, index).contiguous())
    assert new.to_bytes()[3] == FORMAT_VERSION
    assert [(c.index, c.strings, c.latent_crc) for c in new.chunks] == [
        (c.index, c.strings, c.latent_crc) for c in old.chunks
    ]


def _maker():
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_info_names_the_version_a_stream_was_written_in(run_cli, tmp_path: Path) -> None:
    old = GOLDEN / "v2/context-conditional-48x32.hmc"
    result = run_cli("info", old)
    assert "(format version 2; 353 B as version 3)" in result.out
    assert f"total         {old.stat().st_size} B" in result.out
    assert run_cli("extract", old, "-o", tmp_path / "base.hmc").code == 0
    assert "(format version 3)" in run_cli("info", tmp_path / "base.hmc").out
