"""``hmcodec bdrate``, ``plot`` and ``baselines`` through ``register`` on a fresh parser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hmcodec.cli import main as hmcodec_main
from hmcodec.errors import ConfigError, HmcodecError
from hmcodec.evaluate import cli
from hmcodec.evaluate.results import RDResults


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hmcodec")
    cli.register(parser.add_subparsers(dest="command", required=True))
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
