"""Where decoding time goes, per layer and phase, against CompressAI's bmshj2018-hyperprior.

For each model (files, and/or random-weight models built per ``--entropy`` at the given widths)
and each thread count, one image is encoded with :func:`hmcodec.codec.api.encode` and the
decoder's phases are timed separately (median of ``--repeat``):

* base: the entropy decode of ŷ_b, the synthesis g_b, the task head (the base's own output);
* enhancement: the side information h_c(ŷ_b) (float64, the coding path), the entropy decode
  of ŷ_e, the synthesis g_e;
* CompressAI ``bmshj2018-hyperprior`` at the same N and M: its entropy decode (z, h_s, y) and
  its synthesis g_s.

"layer" is entropy decode + synthesis (+ side information): what a layer costs to decode
beside CompressAI's whole decode of a model of the same widths; the task head is separate
(CompressAI has none). Results: JSON and a markdown table. Usage:

    python benchmarks/decode_speed.py --entropy context hyperprior-checkerboard hyperprior-elic \\
        --images ../shared/data/kodak --max-images 1 --repeat 3 --threads 1 2 \\
        --latent-gain 10 -o results/bench/decode_speed
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hmcodec.checkpoint import LoadedModel, load_model
from hmcodec.codec.api import encode
from hmcodec.codec.methods import EnhancementMethod
from hmcodec.codec.rate import descaled
from hmcodec.codec.scalable import BASE, ENHANCEMENT
from hmcodec.entropy.base import spatial_size
from hmcodec.evaluate.bench import load_images, random_model
from hmcodec.evaluate.bench.coders import compressai_model


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time in ms over ``repeat`` calls (after one warm-up), and the last result."""
    result = function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), result


@torch.no_grad()
def hmcodec_phases(model: LoadedModel, image: torch.Tensor, repeat: int) -> dict[str, float]:
    codec = model.codec
    stream = encode(model, image)
    height, width = image.shape[-2:]
    size = (-(-height // codec.stride), -(-width // codec.stride))
    base = stream.chunk(BASE)
    phases: dict[str, float] = {}
    phases["base entropy"], symbols = timed(
        lambda: codec.base_entropy.decompress(list(base.strings), size), repeat
    )
    y_hat_b = codec.base_latent(symbols, base.lmbda)
    phases["base synthesis"], image_like = timed(lambda: codec.base_synthesis(y_hat_b), repeat)
    phases["task head"], _ = timed(lambda: codec.task.predict(image_like), repeat)
    phases["base layer"] = phases["base entropy"] + phases["base synthesis"]
    enhancement = codec.enhancement
    if isinstance(enhancement, EnhancementMethod):
        chunk = stream.chunk(ENHANCEMENT)
        phases["side information"], side = timed(
            lambda: enhancement.side(y_hat_b, exact=True), repeat
        )
        phases["enhancement entropy"], symbols_e = timed(
            lambda: enhancement.entropy.decompress(
                list(chunk.strings), spatial_size(y_hat_b.shape), side
            ),
            repeat,
        )
        y_hat_e = descaled(enhancement.gain, symbols_e, chunk.lmbda)
        phases["enhancement synthesis"], _ = timed(
            lambda: enhancement.output(y_hat_e, y_hat_b), repeat
        )
        phases["enhancement layer"] = (
            phases["side information"]
            + phases["enhancement entropy"]
            + phases["enhancement synthesis"]
        )
    return phases


@torch.no_grad()
def compressai_phases(n: int, m: int, image: torch.Tensor, repeat: int, gain: float) -> dict:
    net = compressai_model("bmshj2018-hyperprior", n, m, latent_gain=gain)
    x = image[None].float()
    pad_h, pad_w = -x.shape[-2] % 64, -x.shape[-1] % 64
    x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    encoded = net.compress(x)
    strings, shape = encoded["strings"], encoded["shape"]

    def entropy() -> torch.Tensor:
        z_hat = net.entropy_bottleneck.decompress(strings[1], shape)
        scales = net.h_s(z_hat)
        indexes = net.gaussian_conditional.build_indexes(scales)
        return net.gaussian_conditional.decompress(strings[0], indexes, z_hat.dtype)

    phases: dict[str, float] = {}
    phases["entropy"], y_hat = timed(entropy, repeat)
    phases["synthesis"], _ = timed(lambda: net.g_s(y_hat), repeat)
    phases["decode"], _ = timed(lambda: net.decompress(strings, shape), repeat)
    return phases


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, help="hmcodec model files")
    parser.add_argument("--entropy", nargs="*", default=[], help="build random models with these")
    parser.add_argument("--transform", default="small")
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--enhancement-channels", type=int, default=64)
    parser.add_argument("--side-channels", type=int, default=32)
    parser.add_argument("--latent-gain", type=float, default=10.0)
    parser.add_argument("--images", type=Path, default=Path("../shared/data/kodak"))
    parser.add_argument("--max-images", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("-o", "--out", type=Path, help="output prefix (.json and .md)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    models: list[tuple[str, LoadedModel]] = [(str(p), load_model(p)) for p in args.models]
    for entropy in args.entropy:
        config = {
            "transform": args.transform,
            "base_channels": args.base_channels,
            "enhancement_channels": args.enhancement_channels,
            "side_channels": args.side_channels,
            "base_entropy": entropy,
            "enhancement_entropy": entropy,
            "method": "conditional",
        }
        models.append((f"random {entropy}", random_model(config, args.latent_gain)))
    images, names = load_images(args.images, None, args.max_images)
    rows: list[dict[str, Any]] = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for image, name in zip(images, names, strict=True):
            widths: set[tuple[int, int]] = set()
            for label, model in models:
                config = model.codec.config
                phases = hmcodec_phases(model, image, args.repeat)
                rows.append({"coder": label, "image": name, "threads": threads, **phases})
                widths.add((config.transform_size().width, config.base_channels))
                if "enhancement layer" in phases:
                    widths.add(
                        (config.transform_size("enhancement").width, config.enhancement_channels)
                    )
                print(label, threads, {k: round(v, 1) for k, v in phases.items()}, flush=True)
            for n, m in sorted(widths):
                phases = compressai_phases(n, m, image, args.repeat, args.latent_gain)
                label = f"bmshj2018-hyperprior N={n} M={m}"
                rows.append({"coder": label, "image": name, "threads": threads, **phases})
                print(label, threads, {k: round(v, 1) for k, v in phases.items()}, flush=True)
    table = markdown(rows, models)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join(["python", "benchmarks/decode_speed.py", *(argv or sys.argv[1:])])
        meta = {"command": command, "images": names, "repeat": args.repeat}
        Path(f"{args.out}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
        Path(f"{args.out}.md").write_text(table)
    return 0


def markdown(rows: list[dict[str, Any]], models: list[tuple[str, LoadedModel]]) -> str:
    """Per model and thread count: phase times (ms) and each layer against bmshj2018 at its
    widths, and the entropy decode against the first model's (the serial reference)."""
    lines = [
        "| coder | threads | base entropy | base synthesis | task head | base layer | "
        "side info | enh. entropy | enh. synthesis | enh. layer | base layer / bmshj | "
        "enh. layer / bmshj |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_label = dict(models)
    for row in rows:
        if row["coder"] not in by_label:
            continue
        config = by_label[row["coder"]].codec.config

        def reference(n: int, m: int, row: dict[str, Any] = row) -> float:
            label = f"bmshj2018-hyperprior N={n} M={m}"
            match = [
                r["decode"]
                for r in rows
                if r["coder"] == label
                and r["threads"] == row["threads"]
                and r["image"] == row["image"]
            ]
            return match[0] if match else float("nan")

        base_ref = reference(config.transform_size().width, config.base_channels)
        enh_ref = reference(config.transform_size("enhancement").width, config.enhancement_channels)
        cells = [
            f"{row.get(key, float('nan')):.0f}"
            for key in (
                "base entropy",
                "base synthesis",
                "task head",
                "base layer",
                "side information",
                "enhancement entropy",
                "enhancement synthesis",
                "enhancement layer",
            )
        ]
        ratios = [
            f"{row['base layer'] / base_ref:.2f}×",
            f"{row.get('enhancement layer', float('nan')) / enh_ref:.2f}×",
        ]
        lines.append(f"| {row['coder']} | {row['threads']} | {' | '.join(cells + ratios)} |")
    lines += [
        "",
        "| CompressAI | threads | entropy | synthesis | decode |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if row["coder"].startswith("bmshj2018"):
            lines.append(
                f"| {row['coder']} | {row['threads']} | {row['entropy']:.0f} | "
                f"{row['synthesis']:.0f} | {row['decode']:.0f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
