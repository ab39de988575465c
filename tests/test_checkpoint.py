"""Model files: a save/load round trip keeps the model (fingerprint, streams); every bad file is
one ModelError sentence; files are written atomically."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from conftest import assert_one_sentence

from hmcodec.checkpoint import MODEL_FORMAT, fingerprint, load_model, save_model
from hmcodec.codec.api import decode, encode
from hmcodec.errors import ModelError


def test_save_load_round_trip_keeps_fingerprint_and_streams(tmp_path, codec_factory, shapes):
    codec = codec_factory(seed=3)
    path = tmp_path / "model.ckpt"
    saved = save_model(codec, path, provenance={"note": "test", "path": tmp_path})
    loaded = load_model(path)

    assert loaded.fingerprint == saved.fingerprint == fingerprint(codec)
    assert loaded.path == path and saved.path == path
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["format"] == MODEL_FORMAT
    assert payload["fingerprint"] == saved.fingerprint.hex()
    assert loaded.provenance == {"note": "test", "path": str(tmp_path)}
    assert loaded.codec.config == codec.config
    for name, tensor in codec.state_dict().items():
        assert torch.equal(loaded.codec.state_dict()[name], tensor), name

    image = shapes(40, 56)
    stream = encode(saved, image)
    assert encode(loaded, image).to_bytes() == stream.to_bytes()
    expected = decode(saved, stream, "all")
    decoded = decode(loaded, stream, "all")
    for index, latent in expected.latents.items():
        assert torch.equal(decoded.latents[index], latent)
    assert torch.equal(decoded.image, expected.image)


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path, codec_factory):
    path = tmp_path / "models" / "model.ckpt"
    save_model(codec_factory(seed=0), path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.ckpt"]
    before = path.read_bytes()
    save_model(codec_factory(seed=1), path)  # replaces it
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.ckpt"]
    assert path.read_bytes() != before


def test_failed_save_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path, codec_factory, monkeypatch
):
    path = tmp_path / "model.ckpt"
    save_model(codec_factory(seed=0), path)
    before = path.read_bytes()

    def broken_save(obj, target, *args, **kwargs):
        Path(target).write_bytes(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(codec_factory(seed=1), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]
    assert path.read_bytes() == before


# ---------------------------------------------------------------------------------- bad files
def _missing(tmp_path: Path, request) -> Path:
    return tmp_path / "nowhere" / "model.ckpt"


def _random_bytes(tmp_path: Path, request) -> Path:
    path = tmp_path / "random.ckpt"
    path.write_bytes(random.Random(0).randbytes(1000))
    return path


def _random_bytes_index_error(tmp_path: Path, request) -> Path:
    path = tmp_path / "random.ckpt"
    path.write_bytes(random.Random(2).randbytes(256))
    return path


def _text(tmp_path: Path, request) -> Path:
    path = tmp_path / "notes.ckpt"
    path.write_text("hello world\n")
    return path


def _empty(tmp_path: Path, request) -> Path:
    path = tmp_path / "empty.ckpt"
    path.write_bytes(b"")
    return path


def _plain_state_dict(tmp_path: Path, request) -> Path:
    path = tmp_path / "state.pt"
    torch.save(request.getfixturevalue("codec_factory")().state_dict(), path)
    return path


def _lightning_checkpoint(tmp_path: Path, request) -> Path:
    run = request.getfixturevalue("trained_run")
    return run / "stage0-base" / "checkpoints" / "last.ckpt"


def _altered_weights(tmp_path: Path, request) -> Path:
    path = tmp_path / "model.ckpt"
    save_model(request.getfixturevalue("codec_factory")(), path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    weight = payload["state_dict"]["base_analysis.0.weight"]
    weight[0, 0, 0, 0] += 1e-3
    torch.save(payload, path)
    return path


def _other_version(tmp_path: Path, request) -> Path:
    path = tmp_path / "model.ckpt"
    save_model(request.getfixturevalue("codec_factory")(), path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload["version"] = 99
    torch.save(payload, path)
    return path


def _unknown_architecture(tmp_path: Path, request) -> Path:
    path = tmp_path / "model.ckpt"
    save_model(request.getfixturevalue("codec_factory")(), path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload["config"]["method"] = "telepathy"
    torch.save(payload, path)
    return path


BAD_FILES = [
    pytest.param(_missing, "does not exist", id="missing"),
    pytest.param(_empty, "not an hmcodec model file", id="empty"),
    pytest.param(
        _random_bytes,
        "not an hmcodec model file",
        id="random-bytes",
    ),
    pytest.param(
        _random_bytes_index_error,
        "not an hmcodec model file",
        id="random-bytes-index-error",
    ),
    pytest.param(
        _text,
        "not an hmcodec model file",
        id="text-file",
    ),
    pytest.param(_plain_state_dict, "not an hmcodec model file", id="plain-state-dict"),
    pytest.param(_lightning_checkpoint, "Lightning", id="lightning-checkpoint"),
    pytest.param(_altered_weights, "corrupted", id="weights-altered-after-saving"),
    pytest.param(_other_version, "version 99", id="other-format-version"),
    pytest.param(_unknown_architecture, "telepathy", id="unknown-method"),
]


@pytest.mark.parametrize(("make", "says"), BAD_FILES)
def test_bad_model_file_raises_one_sentence_model_error(tmp_path, request, make, says):
    path = make(tmp_path, request)
    with pytest.raises(ModelError) as error:
        load_model(path)
    message = str(error.value)
    assert says in message
    assert str(path) in message
    assert_one_sentence(message)
