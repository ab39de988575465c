"""``hmcodec bench`` and ``benchmarks/codec_speed.py`` on one tiny image, one run each."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from hmcodec.checkpoint import save_model
from hmcodec.cli import evaluation
from hmcodec.data import build_dataset
from hmcodec.evaluate.bench import REFERENCES, peak_memory, random_model, run_benchmark

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return build_dataset({"name": "shapesworld", "image_size": 64, "num_samples": 1})[0]["image"]


def test_benchmark_rows_are_finite_with_ratios(
    image: torch.Tensor, tmp_path: Path, tiny_codec: dict
) -> None:
    model = random_model(tiny_codec, latent_gain=20.0)
    threads = torch.get_num_threads()
    result = run_benchmark([model], [image], ["tiny"], repeat=1, threads=1)
    assert torch.get_num_threads() == threads and result.meta["threads"] == 1
    layers = [r.layer for r in result.rows]
    assert layers[:3] == ["base", "enhancement", "all"]
    assert layers[3:] == [*REFERENCES, *REFERENCES]  # at M = 8 and M = 16
    for row in result.rows:
        assert row.encode_ms > 0 and row.decode_ms > 0
        assert math.isfinite(row.encode_mpix_s) and math.isfinite(row.decode_mpix_s)
        assert row.memory and all(math.isfinite(v) for v in row.memory.values())
        assert math.isfinite(row.rate_gap_pct) and row.bpp > 0
    for row in result.rows[:3]:
        assert set(row.ratios) == set(REFERENCES)
        assert all(math.isfinite(v) and v > 0 for r in row.ratios.values() for v in r.values())
    table = result.markdown()
    assert table.count("\n| hmcodec") == 12 and "rate gap" in table  # 3 + 6 ratios + 3
    saved = json.loads(result.save(tmp_path / "bench.json").read_text())
    assert len(saved["rows"]) == len(result.rows) and saved["meta"]["repeat"] == 1


def test_peak_memory_sees_python_allocations() -> None:
    value, memory = peak_memory(lambda n: [0] * n, 2_000_000)
    assert len(value) == 2_000_000 and memory["python_mib"] > 10


def test_bench_command_writes_json(tmp_path: Path, tiny_codec: dict) -> None:
    model = save_model(random_model(tiny_codec, latent_gain=20.0).codec, tmp_path / "m.ckpt")
    parser = argparse.ArgumentParser(prog="hmcodec")
    evaluation.register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "bench.json"
    args = parser.parse_args(
        ["bench", str(model.path), "--dataset", "shapesworld", "image_size=64", "num_samples=1"]
        + ["--repeat", "1", "--no-compressai", "--no-progress", "-o", str(out)]
    )
    assert args.func(args) == 0
    data = json.loads(out.read_text())
    assert [r["layer"] for r in data["rows"]] == ["base", "enhancement", "all"]
    assert data["meta"]["repeat"] == 1 and data["meta"]["models"][0]["model"] == str(model.path)
    assert all(r["encode_ms"] > 0 and r["ratios"] == {} for r in data["rows"])


def test_codec_speed_script_builds_models(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("codec_speed", REPO / "benchmarks/codec_speed.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "speed.json"
    argv = ["--transform", "tiny", "--base-channels", "8", "--enhancement-channels", "16"]
    argv += ["--side-channels", "8", "--entropy", "factorized", "--latent-gain", "20"]
    argv += ["--dataset", "shapesworld", "image_size=64", "num_samples=1", "--repeat", "1"]
    assert script.main([*argv, "--no-compressai", "-o", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["entropy"] for r in rows] == [
        "factorized",
        "factorized (residual)",
        "factorized + factorized",
    ]


def test_train_step_profile_times_every_arm() -> None:
    """benchmarks/train_step.py: every arm is timed, the codec part is base − task head."""
    spec = importlib.util.spec_from_file_location("train_step", REPO / "benchmarks/train_step.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    result = script.measure(repeat=1, profile=False)
    ms = result["ms_per_step"]
    assert set(ms) == {
        "base step",
        "task head",
        "enhancement step",
        "mbt2018 N=24 M=16",
        "mbt2018 N=24 M=32",
        "codec part of the base step",
    }
    assert all(value > 0 for key, value in ms.items() if key != "codec part of the base step")
    assert ms["codec part of the base step"] == pytest.approx(
        ms["base step"] - ms["task head"], abs=0.02
    )
    ratio = result["ratios"]["codec part of the base step / mbt2018 (base width)"]
    assert ratio == pytest.approx(ms["codec part of the base step"] / ms["mbt2018 N=24 M=16"], 0.02)
    assert "| base step |" in script._markdown(result)
