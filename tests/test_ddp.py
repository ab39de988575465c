"""Two-process data-parallel training on CPU through torchrun (gloo), with checkpoint and resume."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hmcodec.checkpoint import load_model

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(
    out: Path, steps: int, resume: bool, tiny_training: list[str]
) -> subprocess.CompletedProcess:
    settings = [  # the shared tiny run, then one base stage in two processes (later keys win)
        *tiny_training,
        f"stages=[{{stage: base, lmbda: 4.0, beta: 0.1, lr: 0.002, max_steps: {steps}}}]",
        "trainer.val_check_interval=3",
        "trainer.limit_val_batches=1",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.accelerator=cpu",
    ]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "hmcodec.cli",
        "train",
        "demo",
        "--out",
        str(out),
        "--no-progress",
        *[arg for s in settings for arg in ("--set", s)],
    ]
    if resume:
        command.append("--resume")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_two_process_ddp_trains_checkpoints_and_resumes(
    tmp_path: Path, tiny_training: list[str]
) -> None:
    out = tmp_path / "run"
    first = _torchrun(out, steps=6, resume=False, tiny_training=tiny_training)
    assert first.returncode == 0, first.stderr[-3000:]
    stage = out / "stage0-base"
    assert json.loads((stage / "final.json").read_text())["steps"] == 6
    checkpoint = torch.load(stage / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 6
    before = torch.load(stage / "final.pt", weights_only=True)

    # Asking for more steps resumes the finished stage from its last checkpoint, in DDP again.
    second = _torchrun(out, steps=9, resume=True, tiny_training=tiny_training)
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads((stage / "final.json").read_text())["steps"] == 9
    after = torch.load(stage / "final.pt", weights_only=True)
    key = "base_analysis.0.weight"
    assert not torch.equal(before[key], after[key])
    model = load_model(out / "model.ckpt")
    assert model.provenance["metrics"]["stage0-base"]["steps"] == 9


def test_demo_on_two_processes_trains_once_and_codes_once(tmp_path: Path) -> None:
    """``hmcodec demo --processes 2``: Lightning starts a second training process (which must
    neither print the model line nor write the example), the batch is split between them, and
    the first process alone codes and evaluates after training."""
    out = tmp_path / "demo"
    command = [
        sys.executable,
        "-m",
        "hmcodec",
        "demo",
        "--out",
        str(out),
        "--processes",
        "2",
        "--no-progress",
        *[
            f"--set={k}"
            for k in (
                "stages.0.max_steps=3",
                "stages.1.max_steps=3",
                "stages.2.max_steps=3",
                "trainer.val_check_interval=3",
                "trainer.limit_val_batches=1",
                "model.base_channels=8",
                "model.enhancement_channels=16",
                "model.side_channels=8",
                "model.task.width=8",
                "data.val.num_samples=4",
            )
        ],
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_PORT=str(_free_port()))
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("hmcodec demo — results in") == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["training_processes"] == 2
    assert summary["config"]["data"]["batch_size"] == 4  # 8 split over two processes
    assert summary["config"]["trainer"]["devices"] == 2
    assert load_model(out / "model.ckpt").provenance["metrics"]
