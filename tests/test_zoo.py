"""Reference models by name: the manifest, the weights enums and builders, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from conftest import assert_one_sentence
from PIL import Image

from hmcodec import zoo
from hmcodec.checkpoint import load_model, save_model
from hmcodec.codec.scalable import build_codec
from hmcodec.errors import ModelError

DATA = Path(
    os.environ.get("HMCODEC_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)


@pytest.fixture
def photo(tmp_path) -> Path:
    """A Kodak photo where the shared data is present, else a smooth synthetic one (96×64)."""
    kodak = DATA / "kodak" / "kodim23.png"
    if kodak.is_file():
        return kodak
    path = tmp_path / "synthetic.png"
    ramp = torch.linspace(0, 255, 96).repeat(64, 1)
    pixels = torch.stack([ramp, ramp.flip(1), ramp.T[:64, :64].repeat(1, 2)[:, :96]], -1)
    Image.fromarray(pixels.to(torch.uint8).numpy()).save(path)
    return path


@pytest.fixture
def weights_folder(tmp_path, monkeypatch, tiny_codec):
    """A package weights folder holding one tiny model as ``shapesworld-segmentation``."""
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.manual_seed(0)
    codec = build_codec(tiny_codec | {"variable_rate": {"enhancement": [0.1, 0.8]}})
    model = save_model(codec, folder / "shapesworld-segmentation.ckpt")
    data = (folder / "shapesworld-segmentation.ckpt").read_bytes()
    entry = {
        "name": "shapesworld-segmentation",
        "file": "shapesworld-segmentation.ckpt",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "description": "a test model",
        "config": model.codec.config.as_dict(),
        "command": "bash results/models/train_shapesworld.sh",
        "figures": ["test: psnr-rgb 20.0 at 0.400 bpp"],
    }
    (folder / zoo.MANIFEST).write_text(json.dumps({"models": [entry]}))
    monkeypatch.setattr(zoo, "weights_folder", lambda: folder)
    return folder


def test_a_reference_name_loads_the_shipped_file(weights_folder) -> None:
    model = load_model("shapesworld-segmentation")
    direct = load_model(weights_folder / "shapesworld-segmentation.ckpt")
    assert model.fingerprint == direct.fingerprint
    assert zoo.names() == ["shapesworld-segmentation"]


def test_a_file_of_that_name_wins_and_an_unknown_name_is_a_missing_file(
    weights_folder, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="does not exist") as error:
        load_model("camvid-nothing")
    assert_one_sentence(str(error.value))
    Path("shapesworld-segmentation").write_bytes(b"not a model")
    with pytest.raises(ModelError):  # the local file is read, not the shipped one
        load_model("shapesworld-segmentation")


def test_a_damaged_shipped_file_is_one_sentence(weights_folder) -> None:
    path = weights_folder / "shapesworld-segmentation.ckpt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256") as error:
        load_model("shapesworld-segmentation")
    assert_one_sentence(str(error.value))


def test_builders_give_the_weights_or_the_bare_architecture(weights_folder) -> None:
    trained = zoo.shapesworld_segmentation()
    same = zoo.shapesworld_segmentation(weights=zoo.ShapesWorldSegmentationWeights.SHAPESWORLD_V1)
    assert trained.fingerprint == same.fingerprint
    bare = zoo.shapesworld_segmentation(weights=None)
    assert bare.codec.config == trained.codec.config
    assert bare.fingerprint != trained.fingerprint
    assert zoo.ShapesWorldSegmentationWeights.DEFAULT.weights.meta["figures"]
    with pytest.raises(ModelError, match="must be a member of"):
        zoo.shapesworld_segmentation(weights=zoo.CamVidSegmentationWeights.DEFAULT)


def test_models_lists_and_encode_decode_take_the_name(
    weights_folder, run_cli, tmp_path, photo
) -> None:
    listed = run_cli("models")
    assert listed.code == 0
    assert "`shapesworld-segmentation`" in listed.out and "test: psnr-rgb 20.0" in listed.out
    entries = json.loads(run_cli("models", "--json").out)
    assert entries[0]["sha256"] and entries[0]["command"].startswith("bash results/models")
    image = tmp_path / "crop.png"
    Image.open(photo).crop((0, 0, 64, 48)).save(image)
    stream = tmp_path / "crop.hmc"
    assert run_cli("encode", "shapesworld-segmentation", image, "-o", stream).code == 0
    decoded = run_cli("decode", "shapesworld-segmentation", stream, "-o", tmp_path / "out")
    assert decoded.code == 0, decoded.err


SHIPPED = zoo.names()


@pytest.mark.skipif(not SHIPPED, reason="this checkout ships no reference models yet")
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_verifies_loads_and_codes_a_photo(
    name, run_cli, tmp_path, photo
) -> None:
    """The newcomer's path: a shipped model by name codes and decodes a photo, no training."""
    entry = zoo.weights(name)
    assert entry.verify().stat().st_size <= 10_000_000
    assert load_model(name).codec.config.as_dict() == entry.config
    stream = tmp_path / "photo.hmc"
    assert run_cli("encode", name, photo, "-o", stream).code == 0
    decoded = run_cli("decode", name, stream, "-o", tmp_path / "photo")
    assert decoded.code == 0, decoded.err


def test_all_shipped_models_together_stay_under_30_mb() -> None:
    total = sum(zoo.weights(name).path.stat().st_size for name in SHIPPED)
    assert total <= 30_000_000
