"""``hmcodec eval``, ``scalable-analysis`` and ``bench``: added by :func:`register`."""

from __future__ import annotations

import argparse
from pathlib import Path

from hmcodec.cli.arguments import quality_list, whole_number
from hmcodec.cli.provenance import command_line

DATASET_HELP = (
    "dataset name and KEY=VALUE options (values read as YAML), e.g. "
    "'shapesworld split=test image_size=256 num_samples=16', 'kodak' or "
    "'camvid root=../shared/data/camvid split=test'"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eval``, ``scalable-analysis`` and ``bench`` subcommands."""
    p = subparsers.add_parser(
        "eval",
        help="RD points of trained models from real bitstreams (one point per model)",
        description="Encode every image of the dataset with each model, decode the extracted "
        "base-only stream (task metric) and the full stream (PSNR-RGB, MS-SSIM), and write one "
        "RD results JSON in CompressAI's layout with measured and estimated rates.",
    )
    p.add_argument("models", type=Path, nargs="+", metavar="MODEL", help="model files")
    p.add_argument("--dataset", nargs="+", required=True, metavar="SPEC", help=DATASET_HELP)
    p.add_argument(
        "--layers",
        choices=("base", "all"),
        default="all",
        help="all: whole stream and image metrics (default); base: the base-only stream and "
        "the task metric",
    )
    p.add_argument("--max-images", type=int, help="use only the first N images")
    p.add_argument("--per-image", action="store_true", help="add per-image records to the JSON")
    p.add_argument("-o", "--output", type=Path, required=True, help="results JSON")
    p.add_argument("--name", help="curve name (default: 'hmcodec <method>')")
    p.add_argument(
        "--qualities",
        type=quality_list,
        metavar="Q[,Q...]",
        help="operating points of a variable-rate model, each in [0, 1] (0: its lowest rate); "
        "default: one per gain anchor",
    )
    p.add_argument(
        "--base-lmbda",
        type=float,
        metavar="L",
        help="hold a variable-rate base at λ_b = L while the enhancement sweeps (default: the "
        "λ_b its enhancement stage trained on, where the stage fixed one)",
    )
    p.add_argument(
        "--threads",
        type=whole_number(1),
        default=1,
        metavar="N",
        help="torch intra-op threads (default 1: more collapse on a shared machine)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_eval)

    p = subparsers.add_parser(
        "scalable-analysis",
        help="BD-rates of a scalable sweep against standalone and simulcast, and base re-use",
        description="Compare a scalable RD curve with the upper baseline (standalone: the "
        "enhancement rate alone) and the lower baseline (simulcast: standalone + base rate), "
        "and report how much of the base rate the scalable stream re-uses: "
        "(R_simulcast - R_scalable) / R_base at equal quality.",
    )
    p.add_argument("--scalable", type=Path, required=True, help="scalable results JSON")
    p.add_argument("--standalone", type=Path, required=True, help="standalone results JSON")
    p.add_argument(
        "--base",
        type=Path,
        help="base-layer results JSON (hmcodec eval --layers base); default: the scalable "
        "file's bpp_base",
    )
    p.add_argument("--metric", default="psnr-rgb", help="quality metric (default: psnr-rgb)")
    p.add_argument("-o", "--output", type=Path, required=True, help="markdown report")
    p.set_defaults(func=run_scalable_analysis)

    p = subparsers.add_parser(
        "bench",
        help="encode/decode speed, memory and rate gap against CompressAI's models",
        description="Time encoding and decoding per layer (median of --repeat runs per image) "
        "next to CompressAI's bmshj2018-hyperprior and mbt2018 (random weights) at the same "
        "latent widths, on the same images; print a markdown table. See docs/benchmarks.md.",
    )
    p.add_argument("models", type=Path, nargs="+", metavar="MODEL", help="model files")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--images", type=Path, help="folder of images")
    source.add_argument(
        "--dataset", nargs="+", metavar="SPEC", help=f"{DATASET_HELP}; default: kodak"
    )
    p.add_argument("--max-images", type=int, help="use only the first N images")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per image (default: 5)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--no-compressai", action="store_true", help="skip CompressAI's models")
    p.add_argument("-o", "--output", type=Path, help="results JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_bench)


def run_eval(args: argparse.Namespace) -> int:
    import torch

    from hmcodec.evaluate.learned import evaluate_models, parse_dataset_spec

    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        curve = evaluate_models(
            args.models,
            parse_dataset_spec(args.dataset),
            layers=args.layers,
            max_images=args.max_images,
            per_image=args.per_image,
            name=args.name,
            command=command_line(args),
            progress=not args.no_progress,
            qualities=args.qualities,
            base_lmbda=args.base_lmbda,
        )
    finally:
        torch.set_num_threads(previous)
    path = curve.save(args.output)
    metrics = [m for m in curve.metrics() if m in curve.results]
    print(f"{curve.name}: {curve.description}")
    print(f"{'model':<40} {'bpp':>8} {'bpp est':>8} " + " ".join(f"{m:>14}" for m in metrics))
    for i, prov in enumerate(curve.provenance):
        values = " ".join(f"{curve.results[m][i]:>14.4f}" for m in metrics)
        point = ", ".join(f"λ_{k[0]}={v:.4g}" for k, v in prov.get("lmbda", {}).items())
        label = str(prov.get("model")) + (f" ({point})" if point else "")
        print(
            f"{label:<40} {curve.bpp[i]:>8.4f} {curve.results['bpp_estimated'][i]:>8.4f} {values}"
        )
    print(f"wrote {path}")
    return 0


def run_scalable_analysis(args: argparse.Namespace) -> int:
    from hmcodec.evaluate.results import RDResults
    from hmcodec.evaluate.scalable import analyse, write_analysis

    base = RDResults.load(args.base) if args.base else None
    analysis = analyse(
        RDResults.load(args.scalable), RDResults.load(args.standalone), base, args.metric
    )
    path = write_analysis(analysis, args.output)
    print(analysis.markdown())
    print(f"wrote {path}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from hmcodec.checkpoint import load_model
    from hmcodec.evaluate.bench import load_images, run_benchmark
    from hmcodec.evaluate.learned import parse_dataset_spec

    models = [load_model(path) for path in args.models]
    dataset = parse_dataset_spec(args.dataset) if args.dataset else None
    images, names = load_images(args.images, dataset, args.max_images)
    result = run_benchmark(
        models,
        images,
        names,
        repeat=args.repeat,
        threads=args.threads,
        compressai_references=not args.no_compressai,
        progress=not args.no_progress,
    )
    result.meta["command"] = command_line(args)
    print(result.markdown(), end="")
    if args.output:
        print(f"wrote {result.save(args.output)}")
    return 0
