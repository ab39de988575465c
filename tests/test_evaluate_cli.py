"""``hmcodec bdrate``, ``plot`` and ``baselines`` through ``register`` on a fresh parser."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hmcodec.checkpoint import load_model
from hmcodec.cli import bdrate, curves
from hmcodec.cli import main as hmcodec_main
from hmcodec.data import build_dataset
from hmcodec.errors import ConfigError, HmcodecError
from hmcodec.evaluate.learned import evaluate_model, parse_dataset_spec
from hmcodec.evaluate.results import RDResults

#: a dataset with segmentation targets, for ``baselines --data ... --task-model``.
SHAPES = ["shapesworld", "split=test", "image_size=64", "num_samples=4"]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hmcodec")
    subparsers = parser.add_subparsers(dest="command", required=True)
    bdrate.register(subparsers)
    curves.register(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture()
def two_curves(tmp_path: Path) -> tuple[Path, Path]:
    bpp, psnr = [0.1, 0.2, 0.4, 0.8], [27.0, 29.0, 31.5, 34.0]
    a = RDResults("A", results={"bpp": bpp, "psnr-rgb": psnr}).save(tmp_path / "a.json")
    b = RDResults("B", results={"bpp": [x * 0.9 for x in bpp], "psnr-rgb": psnr}).save(
        tmp_path / "b.json"
    )
    return a, b


def test_bdrate_prints_both_methods(
    two_curves: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["bdrate", *map(str, two_curves), "--method", "akima"]) == 0
    out = capsys.readouterr().out
    assert "Akima" in out and "cubic (VCEG-M33)" in out and out.count("-10.00 %") == 2


def test_bdrate_on_another_rate_axis_and_with_three_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    psnr, payload = [27.0, 29.0, 31.5], [0.1, 0.2, 0.4]
    files = []
    for name, scale in (("A", 1.0), ("B", 0.8)):
        rates = {
            "bpp": [scale * x + 0.06 for x in payload],
            "bpp_payload": [scale * x for x in payload],
        }
        files.append(RDResults(name, results={**rates, "psnr-rgb": psnr}).save(tmp_path / name))
    assert run(["bdrate", *map(str, files), "--rate", "bpp_payload"]) == 0
    out = capsys.readouterr().out
    assert "rate:   bpp_payload" in out and "-20.00 %" in out
    assert "cubic (VCEG-M33)  BD-rate      n/a" in out  # 3 points: PCHIP only


def test_bdrate_over_seeds_reports_mean_range_spread_and_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bpp, psnr = [0.1, 0.2, 0.4, 0.8], [27.0, 29.0, 31.5, 34.0]
    files = {}
    for name, scale in (("a0", 1.0), ("a1", 1.01), ("t0", 0.8), ("t1", 0.82)):
        curve = RDResults(name, results={"bpp": [x * scale for x in bpp], "psnr-rgb": psnr})
        files[name] = curve.save(tmp_path / f"{name}.json")
    anchors, tests = f"{files['a0']},{files['a1']}", f"{files['t0']},{files['t1']}"
    summary = tmp_path / "summary.json"
    assert run(["bdrate", anchors, tests, "--json", str(summary)]) == 0
    out = capsys.readouterr().out
    assert "mean of 4 seed pair(s)" in out and "verdict: test better" in out
    assert "seed spread: anchor ±1.00 %, test ±2.50 %" in out
    figures = json.loads(summary.read_text())
    expected = [100 * (t / a - 1) for a in (1.0, 1.01) for t in (0.8, 0.82)]
    assert figures["bd_rate_mean"] == pytest.approx(np.mean(expected), abs=1e-6)
    assert figures["shared_range"] == pytest.approx(1.0)
    assert figures["anchor_files"] == [str(files["a0"]), str(files["a1"])]


def test_plot_writes_three_files(two_curves: tuple[Path, Path], tmp_path: Path) -> None:
    assert run(["plot", *map(str, two_curves), "-o", str(tmp_path / "rd"), "--anchor", "b"]) == 0
    assert all((tmp_path / f"rd.{ext}").stat().st_size > 0 for ext in ("png", "svg", "md"))
    assert "against **B**" in (tmp_path / "rd.md").read_text()
    with pytest.raises(ConfigError, match="anchor 'zzz'"):
        run(["plot", *map(str, two_curves), "-o", str(tmp_path / "rd"), "--anchor", "zzz"])


def test_baselines_writes_one_file_per_codec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        base = np.linspace(0, 255, 40 * 56 * 3).reshape(40, 56, 3)
        Image.fromarray(np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)).save(
            images / f"im{i}.png"
        )
    (images / "notes.txt").write_text("not an image")
    argv = [
        "baselines",
        str(images),
        "--codecs",
        "jpeg",
        "webp",
        "--qualities",
        "jpeg=20,60",
        "webp=30,70",
    ]
    argv += ["--max-images", "2", "-o", str(tmp_path / "out")]
    assert run(argv) == 0
    for codec in ("jpeg", "webp"):
        data = json.loads((tmp_path / "out" / f"{codec}.json").read_text())
        assert len(data["results"]["bpp"]) == 2 and data["provenance"][0]["images"] == 2
        assert data["provenance"][0]["command"].startswith("hmcodec ")
    assert "webp" in capsys.readouterr().out


def test_main_reports_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = hmcodec_main(["baselines", str(tmp_path / "missing"), "-o", str(tmp_path / "o")])
    assert code == HmcodecError.exit_code
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown codec"):
        run(["baselines", str(tmp_path), "--codecs", "bpg", "-o", str(tmp_path / "o")])
    with pytest.raises(ConfigError, match="not a number"):
        run(
            [
                "baselines",
                str(tmp_path),
                "--codecs",
                "jpeg",
                "--qualities",
                "high",
                "-o",
                str(tmp_path),
            ]
        )


def test_baselines_task_metric_on_decoded_dataset_images(
    model_file: Path, tmp_path: Path, torch_threads, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["baselines", "--data", *SHAPES, "--codecs", "jpeg", "--qualities", "5", "95"]
    argv += ["--task-model", str(model_file), "--max-images", "3", "-o", str(tmp_path)]
    with torch_threads(1):
        assert run(argv) == 0
        # hmcodec eval's own uncompressed_* on the same three images
        model, dataset = load_model(model_file), build_dataset(parse_dataset_spec(SHAPES))
        reference = evaluate_model(model, dataset, layers="base", max_images=3).task
    curve = RDResults.load(tmp_path / "jpeg.json")
    miou, accuracy = curve.values("miou"), curve.values("pixel_accuracy")
    assert len(curve) == 2 and curve.bpp[0] < curve.bpp[1]
    assert all(0 <= v <= 1 for v in [*miou, *accuracy])
    assert [p["quality"] for p in curve.provenance] == [5, 95]
    assert [row["image"] for row in curve.per_image[0]] == ["0", "1", "2"]  # --max-images 3
    prov = curve.provenance[0]
    assert prov["images"] == 3 and prov["task_images"] == 3
    assert prov["task_model"] == str(model_file)
    assert prov["task_model_fingerprint"] == model.fingerprint.hex()
    for key in ("uncompressed_miou", "uncompressed_pixel_accuracy"):
        assert prov[key] == pytest.approx(reference[key], abs=1e-12)
    assert "uncompressed_miou" in curve.description and "uncompressed_miou" not in curve.results
    # near-lossless JPEG keeps the task head's output; quality 5 changes it
    assert abs(miou[1] - prov["uncompressed_miou"]) < 0.1
    assert (miou[0], accuracy[0]) != (miou[1], accuracy[1])
    out = capsys.readouterr().out
    assert "miou" in out and "uncompressed_miou" in out and "3 images from shapesworld" in out


def test_baselines_data_source_and_task_model_are_checked(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data", *SHAPES, "--codecs", "jpeg", "-o", str(tmp_path / "o")]
    for bad, message in [
        ("missing.ckpt", "model file .*missing.ckpt does not exist."),
        ("garbage.ckpt", "garbage.ckpt is not an hmcodec model file"),
    ]:
        (tmp_path / "garbage.ckpt").write_bytes(b"not a model")
        code = hmcodec_main(["baselines", *data, "--task-model", str(tmp_path / bad)])
        err = capsys.readouterr().err.strip()
        assert code == HmcodecError.exit_code and len(err.splitlines()) == 1
        assert re.search(message, err), err
    assert not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match="--task-model needs --data"):
        run(["baselines", str(tmp_path), "--task-model", str(model_file), "-o", str(tmp_path)])
    with pytest.raises(ConfigError, match=r"IMAGE_DIR\) or a dataset \(--data\)\.$"):
        run(["baselines", "--codecs", "jpeg", "-o", str(tmp_path)])
    with pytest.raises(ConfigError, match="not both"):
        run(["baselines", str(tmp_path), *data])
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(images / "a.png")
    folder = ["--data", "folder", f"root={images}", "--codecs", "jpeg", "-o", str(tmp_path)]
    with pytest.raises(ConfigError, match=r"no sample .* has the targets \(segmentation\)"):
        run(["baselines", *folder, "--task-model", str(model_file)])
