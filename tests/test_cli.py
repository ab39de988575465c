"""The ``hmcodec`` command line: encode → info → extract → decode, and one clean error line (no
traceback, non-zero exit, nothing written) for every kind of bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hmcodec.bitstream import read_stream, write_stream
from hmcodec.checkpoint import load_model
from hmcodec.codec.api import decode, encode
from hmcodec.codec.scalable import BASE, ENHANCEMENT
from hmcodec.io import read_image, to_uint8, write_png
from hmcodec.tasks.segmentation import label_palette

HEIGHT, WIDTH = 45, 70


@pytest.fixture(scope="module")
def files(tmp_path_factory, shapes, model_file) -> dict[str, Path]:
    """An image, its full stream and its base-only stream, written through the Python API."""
    folder = tmp_path_factory.mktemp("cli")
    image = folder / "image.png"
    write_png(shapes(HEIGHT, WIDTH, index=5), image)
    stream = encode(load_model(model_file), read_image(image)[0])
    write_stream(stream, folder / "full.hmc")
    write_stream(stream.select([BASE]), folder / "base.hmc")
    (folder / "notes.txt").write_text("hello: this is neither an image nor a model\n")
    return {
        "image": image,
        "full": folder / "full.hmc",
        "base": folder / "base.hmc",
        "text": folder / "notes.txt",
    }


def _environment() -> dict[str, str]:
    """The caller's environment, one thread, Python's default warning filters."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return env | {"OMP_NUM_THREADS": "1"}


def console_script() -> str:
    script = shutil.which("hmcodec") or str(Path(sys.executable).parent / "hmcodec")
    assert Path(script).is_file(), "the hmcodec console script is not installed"
    return script


def test_encode_info_extract_decode(tmp_path, run_cli, model_file, files):
    model = load_model(model_file)
    full, base = tmp_path / "full.hmc", tmp_path / "base.hmc"

    # encode: the real console script, in its own process
    env = _environment()
    command = [console_script(), "encode", str(model_file), str(files["image"]), "-o", str(full)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    stream = read_stream(full)
    assert f"{full}: {len(full.read_bytes())} bytes" in done.stdout
    assert stream.layer_indices() == (BASE, ENHANCEMENT)
    assert (stream.height, stream.width) == (HEIGHT, WIDTH)
    assert stream.fingerprint == model.fingerprint

    info = run_cli("info", full)
    assert info.code == 0 and info.err == ""
    assert f"{WIDTH}×{HEIGHT}, source mode RGB" in info.out
    assert model.fingerprint.hex() in info.out
    for chunk in stream.chunks:
        assert f"{chunk.payload_bytes} B" in info.out
    assert f"container overhead {stream.overhead_bytes()} B" in info.out

    extracted = run_cli("extract", full, "--layers", "base", "-o", base)
    assert extracted.code == 0, extracted.err
    assert read_stream(base).chunks == (stream.chunk(BASE),)
    assert read_stream(base).fingerprint == stream.fingerprint

    prefix = tmp_path / "out" / "base"
    decoded = run_cli("decode", model_file, base, "--layers", "base", "-o", prefix)
    assert decoded.code == 0, decoded.err
    labels_path = Path(f"{prefix}_labels.png")
    colour_path = Path(f"{prefix}_segmentation.png")
    assert sorted(prefix.parent.iterdir()) == sorted([colour_path, labels_path])
    prediction = decode(model, read_stream(base), "base").prediction
    labels = np.asarray(Image.open(labels_path))
    assert labels.shape == (HEIGHT, WIDTH)
    assert np.array_equal(labels, prediction.numpy().astype(np.uint8))
    assert np.array_equal(
        np.asarray(Image.open(colour_path).convert("RGB")), label_palette()[labels]
    )

    prefix = tmp_path / "out" / "full"
    decoded = run_cli("decode", model_file, full, "--layers", "all", "-o", prefix)
    assert decoded.code == 0, decoded.err
    with Image.open(f"{prefix}.png") as png:
        assert png.size == (WIDTH, HEIGHT) and png.mode == "RGB"
        pixels = np.asarray(png)
    assert np.array_equal(pixels, to_uint8(decode(model, stream, "all").image))
    assert np.array_equal(np.asarray(Image.open(f"{prefix}_labels.png")), labels)


# ------------------------------------------------------------------------------- bad input
def assert_clean_error(result, *fragments: str) -> None:
    assert result.code != 0
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("hmcodec: error: "), result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _damaged(files, tmp_path, how: str) -> Path:
    data = bytearray(files["full"].read_bytes())
    if how == "bit-flip":
        data[len(data) // 2] ^= 0x10
    elif how == "truncated":
        data = data[: len(data) - 7]
    elif how == "version":
        data[3] = 4  # the version byte; the header CRC is left as it was
    path = tmp_path / f"{how}.hmc"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("how", "says"),
    [("bit-flip", "corrupted"), ("truncated", "truncated"), ("version", "version 4")],
)
@pytest.mark.parametrize("command", ["decode", "info", "extract"])
def test_damaged_streams_give_one_error_line(
    tmp_path, run_cli, model_file, files, how, says, command
):
    stream = _damaged(files, tmp_path, how)
    out = tmp_path / "out" / "result"
    args = {
        "decode": ["decode", model_file, stream, "-o", out],
        "info": ["info", stream],
        "extract": ["extract", stream, "-o", out],
    }[command]
    assert_clean_error(run_cli(*args), says)
    assert not out.parent.exists()


def test_stream_of_another_model_gives_one_error_line(tmp_path, run_cli, other_model_file, files):
    out = tmp_path / "out" / "result"
    result = run_cli("decode", other_model_file, files["full"], "-o", out)
    assert_clean_error(result, "another model", read_stream(files["full"]).fingerprint.hex())
    assert not out.parent.exists()


def test_base_only_stream_cannot_be_decoded_with_all_layers(tmp_path, run_cli, model_file, files):
    out = tmp_path / "out" / "result"
    result = run_cli("decode", model_file, files["base"], "--layers", "all", "-o", out)
    assert_clean_error(result, "only the base layer")
    assert not out.parent.exists()


def _lightning_checkpoint(request, files):
    return request.getfixturevalue("trained_run") / "stage0-base" / "checkpoints" / "last.ckpt"


MODEL_CASES = [
    pytest.param(
        lambda request, files: Path("/nonexistent/model.ckpt"), "does not exist", id="missing"
    ),
    pytest.param(_lightning_checkpoint, "not an hmcodec model file", id="lightning-checkpoint"),
    pytest.param(
        lambda request, files: files["image"],
        "not",
        id="image-as-model",
    ),
    pytest.param(
        lambda request, files: files["text"],
        "not",
        id="text-as-model",
    ),
]


@pytest.mark.parametrize(("make", "says"), MODEL_CASES)
@pytest.mark.parametrize("command", ["encode", "decode"])
def test_bad_model_file_gives_one_error_line(
    tmp_path, request, run_cli, files, make, says, command
):
    model = make(request, files)
    out = tmp_path / "out" / "result"
    source = files["image"] if command == "encode" else files["full"]
    assert_clean_error(run_cli(command, model, source, "-o", out), says, str(model))
    assert not out.parent.exists()


@pytest.mark.parametrize(
    ("image", "says"),
    [("missing", "does not exist"), ("text", "not an image file"), ("stream", "not an image")],
)
def test_bad_image_gives_one_error_line(tmp_path, run_cli, model_file, files, image, says):
    path = {"missing": tmp_path / "missing.png", "text": files["text"], "stream": files["full"]}
    output = tmp_path / "result.hmc"
    assert_clean_error(run_cli("encode", model_file, path[image], "-o", output), says)
    assert sorted(tmp_path.iterdir()) == []


BAD_CONFIGS = {
    "missing": (None, "does not exist"),
    "invalid-yaml": ("name: broken\nmodel: [unclosed\n", "not valid YAML"),
    "unknown-top-level-key": ("colour: blue\n", "unknown top-level key(s) colour"),
    "unknown-stage-key": ("stages:\n  - {stage: base, speed: 3}\n", "unknown key(s) speed"),
    "unknown-method": ("model:\n  method: telepathy\n", "unknown enhancement method"),
    "negative-lr": ("stages:\n  - {stage: base, lr: -0.001}\n", "lr must be positive"),
    "unknown-stage": ("stages:\n  - {stage: dreaming}\n", "unknown stage 'dreaming'"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_training_config_gives_one_error_line(tmp_path, run_cli, case):
    """Configs are the demo config with one defect (YAML merged over demo.yaml's text)."""
    from hmcodec.train.config import PACKAGED_CONFIGS

    text, says = BAD_CONFIGS[case]
    config = tmp_path / "config.yaml"
    if text is not None:
        demo = (PACKAGED_CONFIGS / "demo.yaml").read_text()
        if text.startswith(("model:", "stages:", "name:")):  # replace that section
            key = text.split(":", 1)[0]
            kept = _without_section(demo, key)
            config.write_text(kept + text)
        else:
            config.write_text(demo + text)
    out = tmp_path / "run"
    result = run_cli("train", config, "--out", out, "--no-progress")
    assert_clean_error(result, says)
    assert not out.exists()


def test_config_error_found_while_building_the_run_writes_nothing(tmp_path, run_cli):
    out = tmp_path / "run"
    result = run_cli("train", "demo", "--out", out, "--set", "data.train.name=nope")
    assert_clean_error(result, "unknown dataset 'nope'")
    assert not out.exists()


def _without_section(yaml_text: str, key: str) -> str:
    """``yaml_text`` without the top-level ``key:`` block (simple block YAML only)."""
    kept, skipping = [], False
    for line in yaml_text.splitlines(keepends=True):
        if line and not line[0].isspace() and not line.startswith("#"):
            skipping = line.startswith(f"{key}:")
        if not skipping:
            kept.append(line)
    return "".join(kept)


def test_unknown_command_line_override_key_is_refused(tmp_path, run_cli):
    out = tmp_path / "run"
    result = run_cli("train", "demo", "--out", out, "--set", "trainer.speed=3", "--no-progress")
    assert_clean_error(result, "speed")
    assert not out.exists()


def test_console_script_error_is_exactly_one_line_on_stderr(tmp_path, model_file, files):
    """The same contract in a real process, where import-time warnings reach stderr too."""
    stream = _damaged(files, tmp_path, "truncated")
    out = tmp_path / "out" / "result"
    env = _environment()
    command = [console_script(), "decode", str(model_file), str(stream), "-o", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert not out.parent.exists()
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("hmcodec: error: stream is truncated")


@pytest.mark.parametrize("command", [["--help"], ["info"], ["extract"], ["bdrate", "--help"]])
def test_light_commands_start_without_torch(command: list[str], tmp_path: Path) -> None:
    """``--help``, ``info`` and ``extract`` answer at once: they import neither torch nor
    CompressAI (benchmarks/startup.py measures the time)."""
    import subprocess
    import sys

    stream = Path(__file__).parent / "golden/v2/context-conditional-48x32.hmc"
    argv = [*command]
    if command == ["info"]:
        argv.append(str(stream))
    elif command == ["extract"]:
        argv += [str(stream), "-o", str(tmp_path / "base.hmc")]
    probe = (
        "import sys; from hmcodec.cli import main\n"
        "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print(code, 'torch' in sys.modules, 'compressai' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120
    )
    assert done.stderr.split()[-3:] == ["0", "False", "False"], done.stderr
