"""``hmcodec train`` and ``hmcodec demo``: :func:`register_train` and :func:`register_demo`."""

from __future__ import annotations

import argparse
from pathlib import Path

from hmcodec.cli.arguments import whole_number


def register_train(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser("train", help="train a codec from an experiment config")
    p.add_argument("config", help="YAML config file, or the name of a packaged one (demo)")
    p.add_argument("--out", type=Path, help="run directory (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set stages.0.max_steps=100",
    )
    p.add_argument(
        "--threads",
        type=whole_number(1),
        metavar="N",
        help="torch intra-op threads per training process (trainer.threads; default 1 on CPU)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)


def register_demo(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser("demo", help="train a small codec on ShapesWorld and code an example")
    p.add_argument("--out", type=Path, default=Path("demo_out"))
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of the demo config",
    )
    p.add_argument(
        "--processes",
        type=whole_number(1),
        default=1,
        metavar="N",
        help="train on N CPU processes of one thread each (data-parallel, the batch split "
        "between them); 2 uses both cores of a 2-core machine (default 1)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_demo)


def run_train(args: argparse.Namespace) -> int:
    from hmcodec.train.config import load_config
    from hmcodec.train.run import process_rank, train
    from hmcodec.train.sweep import train_sweep

    overrides = list(args.set)
    if args.threads is not None:
        overrides.append(f"trainer.threads={args.threads}")
    config = load_config(args.config, overrides)
    out = args.out or Path("runs") / config.name
    if config.sweep:
        models = train_sweep(config, out, resume=args.resume, progress=not args.no_progress)
        print("models written to " + ", ".join(str(m) for m in models))
        return 0
    model = train(config, out, resume=args.resume, progress=not args.no_progress)
    if process_rank() == 0:  # a data-parallel run's other processes say nothing
        print(f"model written to {model}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from hmcodec.demo import run_demo as demo

    demo(args.out, overrides=args.set, progress=not args.no_progress, processes=args.processes)
    return 0
