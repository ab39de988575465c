"""Training throughput against torch's thread count, alone and beside another busy process
(issue 12, item 3): the demo's base stage (batch 8, 64×64 ShapesWorld crops).

Each arm trains twice from scratch, ``--short`` and ``--long`` steps, in fresh ``hmcodec train``
processes; steps/s is ``(long − short) / (t_long − t_short)``, so start-up, data set-up and
validation at the end cancel out. "Beside a job" runs a second process that keeps one core
busy (a one-thread matrix-multiply loop) for the whole measurement, as a second training or an
evaluation would. The DDP arm is ``torchrun --nproc_per_node 2`` with one thread per process
(``trainer.devices=2``, ``strategy=ddp``); its steps/s counts optimiser steps of batch 8 per
process, so its samples/s is twice its steps/s.

    python benchmarks/train_threads.py --out results/bench/train_threads
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_STAGE = "stages=[{stage: base, lmbda: 8.0, beta: 0.1, lr: 2.0e-3, max_steps: STEPS}]"
COMMON = [
    "trainer.val_check_interval=10000",  # validate only after the last step
    "trainer.limit_val_batches=1",
    "trainer.progress_bar=false",
    "trainer.early_stopping_patience=0",
]
BUSY = (
    "import torch, time\n"
    "torch.set_num_threads(1)\n"
    "a = torch.randn(512, 512)\n"
    "while True:\n"
    "    a = torch.tanh(a @ a)\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train_seconds(steps: int, threads: int, ddp: bool, work: Path) -> float:
    out = work / f"run-{steps}-{threads}-{ddp}-{time.monotonic_ns()}"
    settings = [*COMMON, BASE_STAGE.replace("STEPS", str(steps)), f"trainer.threads={threads}"]
    launcher = [sys.executable, "-m", "hmcodec.cli"]
    if ddp:
        settings += ["trainer.devices=2", "trainer.strategy=ddp", "trainer.accelerator=cpu"]
        launcher = [
            sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
            "-m", "hmcodec.cli",
        ]  # fmt: skip
    command = [*launcher, "train", "demo", "--out", str(out), "--no-progress"]
    command += [arg for s in settings for arg in ("--set", s)]
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"training failed: {result.stderr[-2000:]}")
    return time.perf_counter() - start


def measure(threads: int, beside: bool, ddp: bool, short: int, long: int) -> dict[str, object]:
    busy = None
    if beside:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        busy = subprocess.Popen([sys.executable, "-c", BUSY], env=env)
        time.sleep(3)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            t_short = train_seconds(short, threads, ddp, Path(scratch))
            t_long = train_seconds(long, threads, ddp, Path(scratch))
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    rate = (long - short) / (t_long - t_short)
    return {
        "arm": ("ddp 2×" if ddp else "")
        + f"{threads} thread{'s' if threads > 1 else ''}"
        + (", beside a busy process" if beside else ", alone"),
        "threads": threads,
        "ddp_processes": 2 if ddp else 1,
        "beside_busy_process": beside,
        "steps": [short, long],
        "seconds": [round(t_short, 2), round(t_long, 2)],
        "steps_per_s": round(rate, 3),
        "samples_per_s": round(rate * 8 * (2 if ddp else 1), 2),
    }


ARMS = {  # name: (threads, beside a busy process, ddp)
    "1": (1, False, False),
    "2": (2, False, False),
    "1-busy": (1, True, False),
    "2-busy": (2, True, False),
    "ddp": (1, False, True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--long", type=int, default=120)
    parser.add_argument(
        "--slow-long",
        type=int,
        default=50,
        help="--long for the 2-thread arm beside a busy process (it crawls)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = args.out / "train_threads.json"
    rows = json.loads(report.read_text()) if report.exists() else []
    for name in args.arms:
        threads, beside, ddp = ARMS[name]
        long = args.slow_long if name == "2-busy" else args.long
        row = measure(threads, beside, ddp, args.short, long)
        print(json.dumps(row), flush=True)
        rows = [r for r in rows if r["arm"] != row["arm"]] + [row]
        report.write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["| arm | steps/s | samples/s | runs (steps: s) |", "|---|---:|---:|---|"]
    for r in rows:
        runs = ", ".join(f"{n}: {s}" for n, s in zip(r["steps"], r["seconds"], strict=True))
        lines.append(f"| {r['arm']} | {r['steps_per_s']} | {r['samples_per_s']} | {runs} |")
    (args.out / "train_threads.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
