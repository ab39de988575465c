"""The prepared accelerator run (benchmarks/device/paper_scale.sh) in its CPU smoke form."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hmcodec.checkpoint import load_model
from hmcodec.evaluate.results import RDResults

ROOT = Path(__file__).resolve().parents[1]


def test_paper_scale_script_trains_both_arms_and_writes_its_results(tmp_path) -> None:
    out = tmp_path / "paper_scale"
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "device" / "paper_scale.sh"), str(out), "smoke"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=tmp_path,  # the script finds the repository itself
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for beta in ("0.1", "0"):
        curve = RDResults.load(out / f"base_beta{beta}.json")
        assert len(curve) == 4  # the variable-rate base at its four anchors, real streams
        assert curve.results["rmse"] and curve.results["psnr_base_direct"]
        assert curve.provenance[0]["config"].startswith("shapesworld-depth-base-paper-scale")
    model = load_model(out / "runs" / "beta0" / "model.ckpt")
    assert model.codec.config.transform == "paper" and model.codec.config.base_channels == 192
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "smoke" and summary["training_seconds"] >= 0
    assert (out / "base_rd.png").stat().st_size > 0 and (out / "bdrate.txt").is_file()
