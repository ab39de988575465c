"""Where a training step's time goes (issue 12, item 5): the demo's base and enhancement steps
against CompressAI's ``mbt2018`` of the same widths on the same batch (1 thread, CPU).

Each row is the median of ``--repeat`` timed steps (forward, backward, Adam) after warm-up, on
one fixed batch of 8 ShapesWorld 64×64 crops (the demo's data). The steps are interleaved:
each round times every step once, and a ratio is the median of the rounds' ratios.

* ``base step``: ``CodecModule.losses`` of the base stage (λ_b·task + R_b + β·RMSE of g_a(ŷ_b));
* ``task head``: the task model's own forward and backward on the base synthesis output (its
  input gradient included, as in the base step); ``codec part`` = base step − task head;
* ``enhancement step``: the enhancement stage (frozen base forward, conditional layer);
* ``mbt2018``: CompressAI's ``JointAutoregressiveHierarchicalPriors(N, M)`` with
  λ·255²·MSE + bpp, N = the transforms' width, M = the latent width of the layer compared.

``--profile`` adds torch.profiler's ten most expensive operators of each hmcodec step.

    python benchmarks/train_step.py --out results/bench/train_step
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hmcodec.codec.scalable import build_codec
from hmcodec.data import build_dataset, collate
from hmcodec.losses import bits_per_pixel
from hmcodec.train.config import load_config
from hmcodec.train.module import CodecModule


def _interleaved_seconds(
    steps: dict[str, Callable[[], None]], repeat: int, warmup: int = 5
) -> dict[str, list[float]]:
    """Seconds of each step over ``repeat`` rounds, every round running every step once.

    Interleaving puts the VM's drift in speed (a third between runs here) into every step of a
    round alike, so the ratios of a round compare like with like."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return times


def _module_step(module: CodecModule, batch: dict[str, Any]) -> Callable[[], None]:
    module.train()
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        loss = module.losses(batch)["loss"] + module._aux_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _task_step(module: CodecModule, batch: dict[str, Any]) -> Callable[[], None]:
    """The task head's share of a base step: forward + backward on a fixed image-like input."""
    codec = module.codec
    with torch.no_grad():
        image_like = codec.forward_base(batch["image"])["image_like"]
    parameters = [p for p in codec.task.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=1e-4) if parameters else None

    def step() -> None:
        x = image_like.detach().requires_grad_(True)
        loss = codec.task.loss(x, batch)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if optimizer is not None:
            optimizer.step()

    return step


def _mbt2018_step(n: int, m: int, batch: dict[str, Any]) -> Callable[[], None]:
    from compressai.models import JointAutoregressiveHierarchicalPriors

    model = JointAutoregressiveHierarchicalPriors(N=n, M=m).train()
    x = batch["image"]
    pixels = x.shape[0] * x.shape[2] * x.shape[3]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        out = model(x)
        bpp = bits_per_pixel(out["likelihoods"], pixels)
        loss = 0.01 * 255**2 * torch.mean((out["x_hat"] - x) ** 2) + bpp + model.aux_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _top_operators(step: Callable[[], None], count: int = 10) -> list[dict[str, Any]]:
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows) or 1.0
    return [
        {
            "operator": e.key,
            "self_ms_per_step": round(e.self_cpu_time_total / 5 / 1000, 3),
            "share": round(e.self_cpu_time_total / total, 3),
        }
        for e in rows[:count]
    ]


def measure(repeat: int, profile: bool) -> dict[str, Any]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = load_config("demo")
    spec = dict(config.data["train"]) | {"num_samples": 8}
    data = build_dataset(spec)
    batch = collate([data[i] for i in range(8)])
    size = config.model.transform_size()
    base_stage = next(s for s in config.stages if s.stage == "base")
    enh_stage = next(s for s in config.stages if s.stage == "enhancement")
    base = CodecModule(build_codec(config.model), base_stage)  # each module freezes its own
    steps = {
        "base step": _module_step(base, batch),
        "task head": _task_step(base, batch),
        "enhancement step": _module_step(CodecModule(build_codec(config.model), enh_stage), batch),
        f"mbt2018 N={size.width} M={config.model.base_channels}": _mbt2018_step(
            size.width, config.model.base_channels, batch
        ),
        f"mbt2018 N={size.width} M={config.model.enhancement_channels}": _mbt2018_step(
            size.width, config.model.enhancement_channels, batch
        ),
    }
    rounds = _interleaved_seconds(steps, repeat)
    rounds["codec part of the base step"] = [
        b - t for b, t in zip(rounds["base step"], rounds["task head"], strict=True)
    ]
    seconds = {name: statistics.median(values) for name, values in rounds.items()}

    def ratio(numerator: str, denominator: str) -> float:
        """The median over rounds of one round's ratio."""
        pairs = zip(rounds[numerator], rounds[denominator], strict=True)
        return round(statistics.median(a / b for a, b in pairs), 2)

    result: dict[str, Any] = {
        "batch": list(batch["image"].shape),
        "threads": 1,
        "repeat": repeat,
        "ms_per_step": {k: round(v * 1000, 2) for k, v in seconds.items()},
        "steps_per_second": {k: round(1 / v, 2) for k, v in seconds.items()},
        "ratios": {
            "codec part of the base step / mbt2018 (base width)": ratio(
                "codec part of the base step",
                f"mbt2018 N={size.width} M={config.model.base_channels}",
            ),
            "enhancement step / mbt2018 (enhancement width)": ratio(
                "enhancement step",
                f"mbt2018 N={size.width} M={config.model.enhancement_channels}",
            ),
        },
    }
    if profile:
        result["top_operators"] = {
            name: _top_operators(steps[name]) for name in ("base step", "enhancement step")
        }
    return result


def _markdown(result: dict[str, Any]) -> str:
    lines = ["| step | ms / step | steps / s |", "|---|---|---|"]
    for name, ms in result["ms_per_step"].items():
        lines.append(f"| {name} | {ms:.1f} | {result['steps_per_second'][name]:.1f} |")
    lines += ["", "| ratio | value |", "|---|---|"]
    lines += [f"| {k} | {v:.2f}× |" for k, v in result["ratios"].items()]
    for name, rows in result.get("top_operators", {}).items():
        lines += ["", f"Top operators of the {name} (self CPU time):", ""]
        lines += ["| operator | ms / step | share |", "|---|---|---|"]
        lines += [
            f"| `{r['operator']}` | {r['self_ms_per_step']:.2f} | {r['share']:.0%} |" for r in rows
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args()
    result = measure(args.repeat, not args.no_profile)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "results.md").write_text(_markdown(result))
    print(_markdown(result))


if __name__ == "__main__":
    main()
