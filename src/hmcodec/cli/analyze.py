"""``hmcodec analyze appropriateness``: task appropriateness ρ of a task model's layers.

MODEL is an hmcodec model file (its task head, whatever paradigm wraps it) or a task head name
with ``--task-option``/``--weights`` (:func:`hmcodec.machines.tasks.load_task_model`). Writes
``OUT.json``, ``OUT.md``, ``OUT.png`` and ``OUT.svg`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hmcodec.cli.provenance import command_line

DEFAULT_DATASET = ["shapesworld", "split=val", "image_size=64", "num_samples=64"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``analyze`` with its ``appropriateness`` subcommand."""
    analyze = subparsers.add_parser("analyze", help="analyses of task models (appropriateness)")
    sub = analyze.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    p = sub.add_parser(
        "appropriateness",
        help="task appropriateness ρ of a task model's layers (Harell et al., Figs. 2–3)",
        description="Quantise each layer's features (one vector per position, or per image with "
        "--pool) with k-means (K cells, fixed seed) and report ρ = I(Q;T)/H(T), the fraction of "
        "the task labels' entropy that the cells keep, with NMI and purity; see docs/machines.md.",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="an hmcodec model file (its task head is used) or a task head name "
        "(e.g. segmentation-tiny; the list: docs/machines.md)",
    )
    p.add_argument(
        "--layers",
        nargs="+",
        required=True,
        help="node names of the task network (e.g. layer1 layer2 classifier; 'input' = the "
        "pixels, 'output' = the head's logits)",
    )
    p.add_argument(
        "--dataset",
        nargs="+",
        default=DEFAULT_DATASET,
        metavar="SPEC",
        help=f"dataset name and KEY=VALUE options (default: {' '.join(DEFAULT_DATASET)})",
    )
    p.add_argument(
        "--clusters", type=int, nargs="+", default=[8], metavar="K", help="k-means cells (8)"
    )
    p.add_argument("--max-samples", type=int, default=20000, help="vectors per layer (20000)")
    p.add_argument("--iterations", type=int, default=30, help="Lloyd iterations (30)")
    p.add_argument("--seed", type=int, default=0, help="seed of sampling and k-means (0)")
    p.add_argument("--pool", action="store_true", help="one pooled vector per image (labels)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument(
        "--task-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword of a task head named by MODEL (YAML value), e.g. num_classes=6",
    )
    p.add_argument("--weights", help="weights of a task head named by MODEL (file or name)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output prefix")
    p.set_defaults(func=run_appropriateness)


def run_appropriateness(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import DataLoader

    from hmcodec.data import build_dataset, collate
    from hmcodec.evaluate.learned import describe_dataset, parse_dataset_spec
    from hmcodec.machines.appropriateness import appropriateness, as_json, plot, table
    from hmcodec.machines.tasks import load_task_model

    torch.set_num_threads(min(torch.get_num_threads(), 4))
    head = load_task_model(args.model, args.task_option, args.weights)
    spec = parse_dataset_spec(args.dataset)
    loader = DataLoader(build_dataset(spec), batch_size=args.batch_size, collate_fn=collate)
    clusters = list(dict.fromkeys(args.clusters))
    results = appropriateness(
        head,
        args.layers,
        loader,
        clusters=clusters,
        max_samples=args.max_samples,
        iterations=args.iterations,
        seed=args.seed,
        pool=args.pool,
    )
    text = table(results, clusters)
    print(text, end="")
    out = args.output
    out.parent.mkdir(parents=True, exist_ok=True)
    command = command_line(args)
    document = {
        "model": str(args.model),
        "dataset": describe_dataset(spec),
        "measure": "rho = I(Q;T)/H(T), Q = k-means cell of a feature vector, T = its label",
        "mode": "pooled per image" if args.pool else "per spatial position",
        "clusters": clusters,
        "max_samples": args.max_samples,
        "iterations": args.iterations,
        "seed": args.seed,
        "command": command,
        "layers": as_json(results),
    }
    json_path = Path(f"{out}.json")
    json_path.write_text(json.dumps(document, indent=1) + "\n")
    Path(f"{out}.md").write_text(text)
    for path in [json_path, Path(f"{out}.md"), *plot(results, clusters, str(out))]:
        print(path)
    return 0
