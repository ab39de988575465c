"""Hostile and broken files (issue 16, items 5 and 6, and the decompression bomb): outputs are
written safely (no device, folder or pipe replaced; links written through; every write error one
sentence), broken or foreign model files are one ModelError sentence, and an image over Pillow's
pixel limit is one ImageError sentence."""

from __future__ import annotations

import errno
import os
import random
import stat
import struct
import zlib
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from conftest import assert_one_sentence
from PIL import Image

from hmcodec.bitstream import Stream, read_stream, write_stream
from hmcodec.checkpoint import load_model
from hmcodec.codec.api import encode
from hmcodec.codec.scalable import BASE
from hmcodec.errors import HmcodecError, ImageError, ModelError, OutputError, StreamError
from hmcodec.io import atomic_write, output_target, read_image, write_png

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def assert_cli_refusal(result, *fragments: str) -> None:
    """Non-zero exit, nothing on stdout, and exactly one ``hmcodec: error:`` sentence."""
    assert result.code != 0, result
    assert result.out == "", result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("hmcodec: error: "), result.err
    assert_one_sentence(lines[0].removeprefix("hmcodec: error: "))
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def files(tmp_path_factory, shapes, model_file) -> dict[str, Path]:
    """A small image and its full stream."""
    folder = tmp_path_factory.mktemp("hostile")
    image = folder / "image.png"
    write_png(shapes(24, 40, index=2), image)
    stream = encode(load_model(model_file), read_image(image)[0])
    write_stream(stream, folder / "full.hmc")
    return {"image": image, "full": folder / "full.hmc"}


@pytest.fixture(scope="module")
def stream(files) -> Stream:
    return read_stream(files["full"])


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# ---------------------------------------------------------------------- outputs: what is refused
def _make_folder(path: Path) -> None:
    path.mkdir()


def _make_fifo(path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this system")
    os.mkfifo(path)


def _make_socket(path: Path) -> None:
    import socket

    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no Unix sockets on this system")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
    except OSError as error:  # e.g. a path too long for sun_path
        pytest.skip(f"cannot bind a Unix socket here: {error}")
    finally:
        server.close()


SPECIAL = [
    pytest.param(_make_folder, "a folder", id="folder"),
    pytest.param(_make_fifo, "a named pipe", id="fifo"),
    pytest.param(_make_socket, "a socket", id="socket"),
]


@pytest.mark.parametrize(("make", "kind"), SPECIAL)
def test_atomic_write_refuses_a_target_that_is_not_a_regular_file(tmp_path, make, kind):
    target = tmp_path / "out.png"
    make(target)
    before = os.lstat(target).st_mode
    called = []
    with pytest.raises(OutputError) as error:
        atomic_write(target, called.append)
    assert called == []  # refused before anything was written
    assert str(target) in str(error.value) and kind in str(error.value)
    assert_one_sentence(str(error.value))
    assert os.lstat(target).st_mode == before
    assert listing(tmp_path) == ["out.png"]


@pytest.mark.parametrize(("make", "kind"), SPECIAL)
def test_write_stream_refuses_a_target_that_is_not_a_regular_file(tmp_path, stream, make, kind):
    target = tmp_path / "out.hmc"
    make(target)
    before = os.lstat(target).st_mode
    with pytest.raises(StreamError, match="cannot write stream file") as error:
        write_stream(stream, target)
    assert kind in str(error.value)
    assert_one_sentence(str(error.value))
    assert os.lstat(target).st_mode == before
    assert listing(tmp_path) == ["out.hmc"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("writer", ["write_png", "write_stream"])
def test_dev_full_is_refused_and_stays_a_device(writer, shapes, stream):
    with pytest.raises(HmcodecError) as error:
        if writer == "write_png":
            write_png(shapes(8, 8), "/dev/full")
        else:
            write_stream(stream, "/dev/full")
    assert "/dev/full" in str(error.value) and "a character device" in str(error.value)
    assert_one_sentence(str(error.value))
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)


def test_output_target_of_plain_paths(tmp_path):
    assert output_target(tmp_path / "new.png") == tmp_path / "new.png"
    (tmp_path / "old.png").write_bytes(b"old")
    assert output_target(tmp_path / "old.png") == tmp_path / "old.png"
    for name in ("", ".", ".."):
        with pytest.raises(OutputError, match="not a file name"):
            output_target(Path(name) if name else name)


# -------------------------------------------------------------------------- outputs: symlinks
def test_a_link_to_a_regular_file_is_written_through_and_kept(tmp_path, stream, shapes):
    real = tmp_path / "real.hmc"
    real.write_bytes(b"old")
    real.chmod(0o640)
    link = tmp_path / "link.hmc"
    link.symlink_to(real.name)  # relative link
    write_stream(stream, link)
    assert link.is_symlink() and os.readlink(link) == real.name
    assert read_stream(real) == stream
    assert listing(tmp_path) == ["link.hmc", "real.hmc"]

    picture, picture_link = tmp_path / "real.png", tmp_path / "chain.png"
    picture.write_bytes(b"old")
    (tmp_path / "middle.png").symlink_to(picture)
    picture_link.symlink_to(tmp_path / "middle.png")  # a chain of links
    assert write_png(shapes(8, 8), picture_link) == picture_link
    assert picture_link.is_symlink() and (tmp_path / "middle.png").is_symlink()
    with Image.open(picture) as image:
        assert image.size == (8, 8)
    assert sorted(p for p in listing(tmp_path) if p.startswith(".")) == []


def test_a_replaced_file_keeps_its_permissions(tmp_path, shapes):
    target = tmp_path / "image.png"
    target.write_bytes(b"old")
    target.chmod(0o640)
    link = tmp_path / "link.png"
    link.symlink_to(target)
    write_png(shapes(8, 8), link)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_new_file_gets_the_usual_permissions(tmp_path, shapes):
    umask = os.umask(0o022)
    try:
        write_png(shapes(8, 8), tmp_path / "image.png")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "image.png").stat().st_mode) == 0o644


def test_a_dangling_link_is_refused(tmp_path, stream, shapes):
    link = tmp_path / "link.hmc"
    link.symlink_to(tmp_path / "elsewhere" / "nothing.hmc")
    with pytest.raises(StreamError, match="symbolic link") as error:
        write_stream(stream, link)
    assert_one_sentence(str(error.value))
    with pytest.raises(OutputError, match="does not exist") as error:
        write_png(shapes(8, 8), link)
    assert_one_sentence(str(error.value))
    assert link.is_symlink() and not (tmp_path / "elsewhere").exists()
    assert listing(tmp_path) == ["link.hmc"]


def test_a_link_to_a_folder_is_refused(tmp_path, shapes):
    (tmp_path / "folder").mkdir()
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "folder")
    with pytest.raises(OutputError, match="a folder") as error:
        write_png(shapes(8, 8), link)
    assert "link.png" in str(error.value)
    assert_one_sentence(str(error.value))
    assert link.is_symlink() and listing(tmp_path / "folder") == []


# ------------------------------------------------------------------- outputs: failing writes
def _raise(error: OSError):
    def fail(*args, **kwargs):
        raise error

    return fail


WRITE_ERRORS = [
    pytest.param(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space", id="disk-full"),
    pytest.param(PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "denied", id="denied"),
    pytest.param(OSError(errno.EROFS, os.strerror(errno.EROFS)), "Read-only", id="read-only-fs"),
]


@pytest.mark.parametrize(("failure", "says"), WRITE_ERRORS)
def test_a_failed_rename_is_one_sentence_and_keeps_the_old_file(
    tmp_path, monkeypatch, shapes, failure, says
):
    target = tmp_path / "image.png"
    target.write_bytes(b"precious")
    monkeypatch.setattr(os, "replace", _raise(failure))
    with pytest.raises(OutputError) as error:
        write_png(shapes(8, 8), target)
    message = str(error.value)
    assert str(target) in message and says in message
    assert_one_sentence(message)
    assert isinstance(error.value, OSError)  # old `except OSError` handlers still work
    assert target.read_bytes() == b"precious"
    assert listing(tmp_path) == ["image.png"]


@pytest.mark.parametrize(("failure", "says"), WRITE_ERRORS)
def test_a_failed_temporary_file_is_one_sentence(tmp_path, monkeypatch, failure, says):
    real_open = os.open

    def failing_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise failure
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)
    with pytest.raises(OutputError) as error:
        atomic_write(tmp_path / "out.json", lambda temp: temp.write_text("{}"))
    assert str(tmp_path / "out.json") in str(error.value) and says in str(error.value)
    assert_one_sentence(str(error.value))
    assert listing(tmp_path) == []


def test_a_full_disk_while_writing_is_one_sentence(tmp_path):
    def write(temp: Path) -> None:
        temp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OutputError, match="No space left on device") as error:
        atomic_write(tmp_path / "out.bin", write)
    assert_one_sentence(str(error.value))
    assert listing(tmp_path) == []


def test_a_programming_error_in_the_writer_is_not_hidden(tmp_path):
    def write(temp: Path) -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        atomic_write(tmp_path / "out.bin", write)
    assert listing(tmp_path) == []


def test_a_file_in_place_of_a_folder_is_one_sentence(tmp_path, shapes):
    (tmp_path / "file").write_bytes(b"x")
    for target in (tmp_path / "file" / "image.png", tmp_path / "file" / "deeper" / "image.png"):
        with pytest.raises(OutputError, match="cannot be created") as error:
            write_png(shapes(8, 8), target)
        assert str(target) in str(error.value)
        assert_one_sentence(str(error.value))


@pytest.mark.skipif(IS_ROOT or os.name != "posix", reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_sentence(tmp_path, shapes):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="Permission denied") as error:
            write_png(shapes(8, 8), folder / "image.png")
        assert_one_sentence(str(error.value))
        with pytest.raises(OutputError, match="cannot be created"):
            write_png(shapes(8, 8), folder / "sub" / "image.png")
    finally:
        folder.chmod(0o700)
    assert listing(folder) == []


# ----------------------------------------------------------------------- outputs: through the CLI
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_cli_encode_to_dev_full_is_refused(run_cli, model_file, files):
    before = os.lstat("/dev/full")
    result = run_cli("encode", model_file, files["image"], "-o", "/dev/full")
    assert_cli_refusal(result, "/dev/full", "character device")
    after = os.lstat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_cli_encode_through_a_link_writes_its_target(tmp_path, run_cli, model_file, files):
    real = tmp_path / "real.hmc"
    real.write_bytes(b"old")
    link = tmp_path / "link.hmc"
    link.symlink_to(real)
    result = run_cli("encode", model_file, files["image"], "-o", link)
    assert result.code == 0, result.err
    assert link.is_symlink() and read_stream(real).layer_indices()[0] == BASE


def test_cli_encode_into_a_folder_path_is_refused(tmp_path, run_cli, model_file, files):
    result = run_cli("encode", model_file, files["image"], "-o", tmp_path)
    assert_cli_refusal(result, str(tmp_path), "a folder")
    assert listing(tmp_path) == []


@pytest.mark.parametrize(("failure", "says"), WRITE_ERRORS)
def test_cli_decode_into_a_read_only_or_full_folder_is_refused(
    tmp_path, run_cli, monkeypatch, model_file, files, failure, says
):
    """Root ignores permission bits, so a read-only folder and a full disk are simulated where
    every write ends: the rename into place."""
    monkeypatch.setattr(os, "replace", _raise(failure))
    out = tmp_path / "out"
    result = run_cli("decode", model_file, files["full"], "--layers", "base", "-o", out / "x")
    assert_cli_refusal(result, str(out / "x"), says)
    assert listing(out) == []


@pytest.mark.skipif(IS_ROOT or os.name != "posix", reason="root writes into read-only folders")
def test_cli_decode_into_a_real_read_only_folder_is_refused(tmp_path, run_cli, model_file, files):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        for prefix in (folder / "x", folder / "sub" / "x"):
            result = run_cli("decode", model_file, files["full"], "-o", prefix)
            assert_cli_refusal(result, str(prefix))
    finally:
        folder.chmod(0o700)
    assert listing(folder) == []


@pytest.mark.parametrize("layers", ["base", "all"])
def test_cli_decode_under_a_file_is_refused(tmp_path, run_cli, model_file, files, layers):
    (tmp_path / "file").write_bytes(b"x")
    prefix = tmp_path / "file" / "sub" / "x"
    result = run_cli("decode", model_file, files["full"], "--layers", layers, "-o", prefix)
    assert_cli_refusal(result, str(prefix), "cannot be created")
    assert (tmp_path / "file").read_bytes() == b"x"


def test_cli_decode_onto_a_folder_is_refused(tmp_path, run_cli, model_file, files):
    (tmp_path / "x_segmentation.png").mkdir()
    result = run_cli("decode", model_file, files["full"], "--layers", "base", "-o", tmp_path / "x")
    assert_cli_refusal(result, "x_segmentation.png", "a folder")


def test_cli_decode_creates_missing_folders(tmp_path, run_cli, model_file, files):
    prefix = tmp_path / "a" / "b" / "x"
    result = run_cli("decode", model_file, files["full"], "-o", prefix)
    assert result.code == 0, result.err
    assert sorted(p.name for p in prefix.parent.iterdir()) == [
        "x.png",
        "x_labels.png",
        "x_segmentation.png",
    ]


# ------------------------------------------------------------------------------ model files
@pytest.fixture(scope="module")
def model_bytes(model_file) -> bytes:
    return model_file.read_bytes()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _payload(model_file: Path) -> dict:
    return torch.load(model_file, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("fraction", [0.0001, 0.01, 0.5, 0.9, 0.999])
def test_a_truncated_model_file_is_one_sentence(tmp_path, model_bytes, fraction):
    path = _write(tmp_path, "model.ckpt", model_bytes[: int(len(model_bytes) * fraction)])
    with pytest.raises(ModelError) as error:
        load_model(path)
    assert str(path) in str(error.value)
    assert "truncated" in str(error.value) or "not an hmcodec model file" in str(error.value)
    assert_one_sentence(str(error.value))


def test_a_model_file_cut_by_one_byte_says_damaged(tmp_path, model_bytes):
    path = _write(tmp_path, "model.ckpt", model_bytes[:-1])
    with pytest.raises(ModelError, match="damaged PyTorch file"):
        load_model(path)


def test_bit_flipped_model_files_are_each_one_sentence(tmp_path, model_bytes):
    """Flips everywhere, and densely in the pickled header (data.pkl, near the start): each is
    a ModelError sentence, or — a flip in bytes no reader looks at — the intact model."""
    rng = random.Random(16)
    start = model_bytes.find(b"data.pkl")
    positions = [rng.randrange(len(model_bytes)) for _ in range(40)]
    positions += [rng.randrange(start, start + 4000) for _ in range(40)]
    outcomes = set()
    for position in positions:
        data = bytearray(model_bytes)
        data[position] ^= 1 << rng.randrange(8)
        path = _write(tmp_path, "model.ckpt", bytes(data))
        try:
            load_model(path)
            outcomes.add("loaded")
        except ModelError as error:
            assert str(path) in str(error)
            assert_one_sentence(str(error))
            outcomes.add(str(error).replace(str(path), "MODEL").split(":")[0].split(" (")[0])
    assert len(outcomes) >= 2, outcomes


def test_a_flipped_weight_is_corrupted(tmp_path, model_file):
    data = bytearray(model_file.read_bytes())
    payload = _payload(model_file)
    weight = payload["state_dict"]["base_analysis.0.weight"]
    needle = weight.contiguous().numpy().tobytes()[:16]
    position = bytes(data).find(needle)
    assert position > 0
    data[position] ^= 0x01
    path = _write(tmp_path, "model.ckpt", bytes(data))
    with pytest.raises(ModelError, match="corrupted: its weights do not match its fingerprint"):
        load_model(path)


def _foreign_dict(tmp_path: Path, request) -> Path:
    torch.save({"a": 1}, tmp_path / "x.pt")
    return tmp_path / "x.pt"


def _foreign_list(tmp_path: Path, request) -> Path:
    torch.save([1, 2, torch.zeros(3)], tmp_path / "x.pt")
    return tmp_path / "x.pt"


def _foreign_tensor(tmp_path: Path, request) -> Path:
    torch.save(torch.zeros(2, 2), tmp_path / "x.pt")
    return tmp_path / "x.pt"


def _torchvision_state_dict(tmp_path: Path, request) -> Path:
    from torchvision.models import mobilenet_v3_small

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        torch.save(mobilenet_v3_small(num_classes=3).state_dict(), tmp_path / "x.pth")
    return tmp_path / "x.pth"


def _legacy_format(tmp_path: Path, request) -> Path:
    torch.save({"a": torch.ones(2)}, tmp_path / "x.pt", _use_new_zipfile_serialization=False)
    return tmp_path / "x.pt"


def _python_object(tmp_path: Path, request) -> Path:
    torch.save({"when": Path("/tmp")}, tmp_path / "x.pt")  # not allowed by weights_only
    return tmp_path / "x.pt"


def _folder(tmp_path: Path, request) -> Path:
    (tmp_path / "model.ckpt").mkdir()
    return tmp_path / "model.ckpt"


def _edited(change):
    def make(tmp_path: Path, request) -> Path:
        payload = _payload(request.getfixturevalue("model_file"))
        change(payload, request)
        torch.save(payload, tmp_path / "model.ckpt")
        return tmp_path / "model.ckpt"

    return make


def _other_architecture(payload: dict, request) -> None:
    """An hmcodec model file whose weights are those of a wider codec."""
    wider = request.getfixturevalue("codec_factory")(base_channels=16)
    payload["state_dict"] = wider.for_inference().state_dict()


def _missing_weights(payload: dict, request) -> None:
    for name in list(payload["state_dict"])[:3]:
        del payload["state_dict"][name]


def _extra_weights(payload: dict, request) -> None:
    payload["state_dict"]["nonsense.weight"] = torch.zeros(1)


def _torchvision_weights_inside(payload: dict, request) -> None:
    from torchvision.models import mobilenet_v3_small

    payload["state_dict"] = OrderedDict(mobilenet_v3_small(num_classes=3).state_dict())


def _config_is_a_list(payload: dict, request) -> None:
    payload["config"] = [1, 2]


def _config_bad_value(payload: dict, request) -> None:
    payload["config"]["base_channels"] = "many"


def _config_unknown_setting(payload: dict, request) -> None:
    payload["config"]["warp_drive"] = True


def _state_not_tensors(payload: dict, request) -> None:
    payload["state_dict"] = {"a": 1}


def _no_fingerprint(payload: dict, request) -> None:
    del payload["fingerprint"]


def _tensor_in_config(payload: dict, request) -> None:
    payload["config"]["task"]["width"] = torch.tensor(8)


def _provenance_is_a_list(payload: dict, request) -> None:
    payload["provenance"] = [1]


FOREIGN = [
    pytest.param(_foreign_dict, "dictionary without the hmcodec format marker", id="dict"),
    pytest.param(_foreign_list, "holds a list", id="list"),
    pytest.param(_foreign_tensor, "holds a Tensor", id="tensor"),
    pytest.param(_torchvision_state_dict, "bare state dict", id="torchvision-state-dict"),
    pytest.param(_legacy_format, "bare state dict", id="legacy-torch-format"),
    pytest.param(_python_object, "weights_only=True", id="python-object"),
    pytest.param(_folder, "is a folder", id="folder"),
    pytest.param(_edited(_other_architecture), "of the wrong shape", id="other-architecture"),
    pytest.param(_edited(_missing_weights), "3 missing", id="missing-weights"),
    pytest.param(_edited(_extra_weights), "1 unexpected", id="extra-weights"),
    pytest.param(_edited(_torchvision_weights_inside), "missing", id="torchvision-inside"),
    pytest.param(_edited(_config_is_a_list), "malformed", id="config-list"),
    pytest.param(_edited(_config_bad_value), "cannot build", id="config-bad-value"),
    pytest.param(_edited(_config_unknown_setting), "warp_drive", id="config-unknown-key"),
    pytest.param(_edited(_state_not_tensors), "malformed", id="state-not-tensors"),
    pytest.param(_edited(_no_fingerprint), "malformed", id="no-fingerprint"),
    pytest.param(_edited(_tensor_in_config), "", id="tensor-in-config"),
    pytest.param(_edited(_provenance_is_a_list), "malformed", id="provenance-list"),
]


@pytest.mark.parametrize(("make", "says"), FOREIGN)
def test_foreign_or_mismatched_model_files_are_one_sentence(tmp_path, request, make, says):
    path = make(tmp_path, request)
    with pytest.raises(ModelError) as error:
        load_model(path)
    message = str(error.value)
    assert says in message, message
    assert str(path) in message
    assert_one_sentence(message)


def test_loading_stays_weights_only(monkeypatch, model_file):
    seen = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_model(model_file)
    assert seen == [True]


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp_path, data: _write(tmp_path, "m.ckpt", data[: len(data) // 2]),
        lambda tmp_path, data: _write(tmp_path, "m.ckpt", data[:100]),
        lambda tmp_path, data: (torch.save([1], tmp_path / "m.ckpt"), tmp_path / "m.ckpt")[1],
    ],
    ids=["truncated", "truncated-header", "foreign-list"],
)
def test_cli_refuses_broken_model_files(tmp_path, run_cli, files, model_bytes, make):
    path = make(tmp_path, model_bytes)
    result = run_cli("encode", path, files["image"], "-o", tmp_path / "out.hmc")
    assert_cli_refusal(result, str(path))
    result = run_cli("decode", path, files["full"], "-o", tmp_path / "out")
    assert_cli_refusal(result, str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ckpt"]


def test_cli_refuses_a_bit_flipped_weight(tmp_path, run_cli, files, model_file):
    data = bytearray(model_file.read_bytes())
    needle = _payload(model_file)["state_dict"]["base_analysis.0.weight"].numpy().tobytes()[:16]
    data[bytes(data).find(needle) + 3] ^= 0x80
    path = _write(tmp_path, "m.ckpt", bytes(data))
    result = run_cli("decode", path, files["full"], "-o", tmp_path / "out")
    assert_cli_refusal(result, str(path), "corrupted")


# ------------------------------------------------------------------------------------- images
def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width``×``height`` 8-bit grey pixels with (almost) no data: Pillow
    reads the size from IHDR, which is all its decompression-bomb check needs."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    data += chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


def test_a_20000_by_20000_png_is_one_sentence(tmp_path):
    path = _png_header_only(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(ImageError) as error:
        read_image(path)
    message = str(error.value)
    assert str(path) in message
    assert "400,000,000 pixels" in message
    assert f"{Image.MAX_IMAGE_PIXELS:,} pixels" in message
    assert "PIL.Image.MAX_IMAGE_PIXELS" in message
    assert_one_sentence(message)


def test_an_image_just_over_the_limit_is_refused_too(tmp_path, monkeypatch):
    """Pillow only warns between its limit and twice it; hmcodec refuses from the limit on."""
    path = tmp_path / "image.png"
    Image.new("RGB", (20, 10)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)  # 200 pixels: a warning for Pillow
    with pytest.raises(ImageError, match="200 pixels, more than the limit of 150 pixels") as error:
        read_image(path)
    assert_one_sentence(str(error.value))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 99)  # 200 pixels: Pillow's own error
    with pytest.raises(ImageError, match="more than the limit of 99 pixels"):
        read_image(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)  # at the limit: read
    assert read_image(path)[0].shape == (3, 10, 20)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # guard off: read
    assert read_image(path)[0].shape == (3, 10, 20)


def test_cli_refuses_a_decompression_bomb(tmp_path, run_cli, model_file):
    path = _png_header_only(tmp_path / "bomb.png", 20000, 20000)
    result = run_cli("encode", model_file, path, "-o", tmp_path / "bomb.hmc")
    assert_cli_refusal(result, str(path), "MAX_IMAGE_PIXELS")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.png"]
