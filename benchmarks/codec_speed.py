"""Coding speed of hmcodec against CompressAI's bmshj2018-hyperprior and mbt2018 (CPU).

Runs :func:`hmcodec.evaluate.bench.run_benchmark` — the function behind ``hmcodec bench`` —
on given model files and/or freshly built random-weight models (``--build``, the default when
no model is given: paper-like width, one model per ``--entropy``). See docs/benchmarks.md.

    python benchmarks/codec_speed.py --max-images 4 --repeat 3 \\
        -o results/bench/kodak.json --markdown results/bench/kodak.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hmcodec.checkpoint import LoadedModel, load_model
from hmcodec.errors import HmcodecError
from hmcodec.evaluate.bench import load_images, random_model, run_benchmark
from hmcodec.evaluate.learned import parse_dataset_spec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, help="hmcodec model files (model.ckpt)")
    parser.add_argument(
        "--build", action="store_true", help="also build random-weight models (default: no MODEL)"
    )
    parser.add_argument("--transform", default="small", help="transform preset (default: small)")
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--enhancement-channels", type=int, default=64)
    parser.add_argument("--side-channels", type=int, default=32)
    parser.add_argument("--method", default="conditional", help="enhancement method")
    parser.add_argument(
        "--entropy",
        nargs="+",
        default=["context", "factorized"],
        help="entropy model(s) of the built models, one model each (default: context "
        "factorized; a factorized model codes its enhancement with the residual method, "
        "which needs no side information)",
    )
    parser.add_argument(
        "--latent-gain",
        type=float,
        default=1.0,
        help="gain on the last analysis convolution of every built and CompressAI model, so "
        "random latents are not all 0 (default: 1, untouched)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--images", type=Path, help="folder of images")
    source.add_argument("--dataset", nargs="+", metavar="SPEC", help="dataset (default: kodak)")
    parser.add_argument("--max-images", type=int, default=4, help="first N images (default: 4)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per image (median)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--no-compressai", action="store_true", help="skip CompressAI's models")
    parser.add_argument("-o", "--output", type=Path, help="results JSON")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        models: list[LoadedModel] = [load_model(path) for path in args.models]
        labels = [f"hmcodec {path.parent.name or path.stem}" for path in args.models]
        if args.build or not models:
            for entropy in args.entropy:
                method = args.method
                if entropy == "factorized" and method == "conditional":
                    method = "residual"  # a factorized model takes no side information
                config = {
                    "transform": args.transform,
                    "base_channels": args.base_channels,
                    "enhancement_channels": args.enhancement_channels,
                    "side_channels": args.side_channels,
                    "base_entropy": entropy,
                    "enhancement_entropy": entropy,
                    "method": method,
                }
                models.append(random_model(config, args.latent_gain))
                labels.append(f"hmcodec random {entropy}")
        dataset = parse_dataset_spec(args.dataset) if args.dataset else None
        images, names = load_images(args.images, dataset, args.max_images)
        result = run_benchmark(
            models,
            images,
            names,
            repeat=args.repeat,
            threads=args.threads,
            compressai_references=not args.no_compressai,
            labels=labels,
            progress=True,
            reference_gain=args.latent_gain,
        )
    except HmcodecError as error:
        print(f"codec_speed: error: {error}", file=sys.stderr)
        return error.exit_code
    result.meta["command"] = " ".join(
        ["python", "benchmarks/codec_speed.py", *(argv or sys.argv[1:])]
    )
    table = result.markdown()
    print(table)
    if args.output:
        print(f"wrote {result.save(args.output)}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
