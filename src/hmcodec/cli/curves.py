"""``hmcodec plot`` and ``hmcodec baselines``: added by :func:`register` (``bdrate``:
:mod:`hmcodec.cli.bdrate`); the task metrics of ``baselines --task-model`` come from
:mod:`hmcodec.evaluate.task_scoring`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hmcodec.cli.provenance import command_line
from hmcodec.errors import ConfigError

if TYPE_CHECKING:  # the commands import what they use: ``hmcodec --help`` needs no torch
    from hmcodec.evaluate.classical import Quality
    from hmcodec.evaluate.task_scoring import TaskScorer

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_CODECS = ("jpeg", "webp", "avif", "jpeg2000", "jpegxl")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plot`` and ``baselines`` subcommands."""
    p = subparsers.add_parser(
        "plot",
        help="RD curves (PNG, SVG) and a BD-rate table (markdown) from results files",
        description="Write OUT_PREFIX.png, OUT_PREFIX.svg and OUT_PREFIX.md.",
    )
    p.add_argument("results", type=Path, nargs="+", help="results JSON files")
    p.add_argument("-o", "--output", type=Path, required=True, help="output prefix")
    p.add_argument("--anchor", help="anchor for the BD table: a curve name or file stem")
    p.add_argument("--metrics", nargs="+", help="panels to draw (default: every metric found)")
    p.add_argument("--title", help="figure title")
    p.set_defaults(func=run_plot)

    p = subparsers.add_parser(
        "baselines",
        help="RD curves of classical codecs (JPEG, WebP, AVIF, JPEG 2000, JPEG XL, HEVC)",
        description="Encode every image of IMAGE_DIR (or of the dataset --data) with each codec "
        "at each quality and write OUT_DIR/<codec>.json. Qualities are each codec's native knob; "
        "with --task-model, every point also gets that model's task metric on the decoded "
        "images. See docs/evaluation.md.",
    )
    p.add_argument("image_dir", type=Path, nargs="?", help="folder of images (png, jpg, ppm, ...)")
    p.add_argument(
        "--data",
        nargs="+",
        metavar="SPEC",
        help="a dataset instead of IMAGE_DIR: name and KEY=VALUE options as for hmcodec eval "
        "--dataset, e.g. 'shapesworld split=test image_size=256 num_samples=16'",
    )
    p.add_argument(
        "--task-model",
        type=Path,
        metavar="MODEL",
        help="hmcodec model file whose task head scores the decoded images (needs --data for "
        "the targets); adds its task metrics (e.g. miou) to every point",
    )
    p.add_argument(
        "--codecs",
        nargs="+",
        default=list(DEFAULT_CODECS),
        metavar="CODEC",
        help=f"classical codecs (default: {' '.join(DEFAULT_CODECS)}; also hevc; the list and "
        "what each needs: docs/evaluation.md)",
    )
    p.add_argument(
        "--qualities",
        nargs="+",
        metavar="Q",
        help="qualities for every codec (e.g. 10 50 90), or per codec (jpeg=10,50,90 webp=...)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--max-images", type=int, help="use only the first N images (sorted by name)")
    p.add_argument(
        "--dataset",
        help="dataset name for descriptions (default: the folder's name or the --data spec)",
    )
    p.set_defaults(func=run_baselines)


def run_plot(args: argparse.Namespace) -> int:
    from hmcodec.evaluate.plot import write_report
    from hmcodec.evaluate.results import RDResults

    curves = [RDResults.load(path) for path in args.results]
    anchor = args.anchor
    stems = {path.stem: curve.name for path, curve in zip(args.results, curves, strict=True)}
    if anchor is not None and anchor not in {c.name for c in curves}:
        if anchor not in stems:
            known = ", ".join(sorted({c.name for c in curves} | set(stems)))
            raise ConfigError(
                f"anchor {anchor!r} is neither a curve name nor a file stem: {known}."
            )
        anchor = stems[anchor]
    for path in write_report(curves, args.output, anchor, args.metrics, args.title):
        print(path)
    return 0


def run_baselines(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hmcodec.evaluate.classical import CODECS, sweep
    from hmcodec.io import read_image, to_uint8

    if (args.image_dir is None) == (args.data is None):
        both = ", not both" if args.data is not None else ""
        raise ConfigError(f"give an image folder (IMAGE_DIR) or a dataset (--data){both}.")
    if args.task_model is not None and args.data is None:
        raise ConfigError(
            "--task-model needs --data: an image folder has no targets to score the task against."
        )
    codecs = _usable_codecs(args.codecs)
    qualities = _parse_qualities(args.qualities, codecs)
    task: TaskScorer | None = None
    if args.data is not None:
        from hmcodec.evaluate.learned import describe_dataset, parse_dataset_spec
        from hmcodec.evaluate.task_scoring import TaskScorer, dataset_images

        spec = parse_dataset_spec(args.data)
        task = TaskScorer.load(args.task_model) if args.task_model is not None else None
        images, names = dataset_images(spec, args.max_images, task)
        source = describe_dataset(spec)
        dataset = args.dataset or source
    else:
        paths = list_images(args.image_dir)[: args.max_images]
        images = [to_uint8(read_image(path)[0]) for path in paths]
        names = [path.name for path in paths]
        source = str(args.image_dir)
        dataset = args.dataset or args.image_dir.resolve().name
    command = command_line(args)
    total = sum(len(qualities.get(c) or CODECS.build(c).default_qualities) for c in codecs)
    columns = ["psnr-rgb", "ms-ssim"]
    rows: list[tuple[str, Quality, float, list[float]]] = []
    with tqdm(total=total * len(images), unit="img", desc="baselines", mininterval=2) as bar:
        for codec in codecs:
            bar.set_postfix_str(codec)
            curve = sweep(
                images,
                codec,
                qualities.get(codec),
                task_fn=task,
                names=names,
                command=command,
                dataset=dataset,
                progress=bar.update,
                provenance=task.provenance() if task is not None else None,
            )
            if task is not None:
                curve.description += f"; {task.description()}"
                columns = list(dict.fromkeys([*columns, *task.uncompressed]))
            path = curve.save(args.output / f"{codec}.json")
            tqdm.write(f"wrote {path}")
            for i, prov in enumerate(curve.provenance):
                values = [curve.results[m][i] for m in columns]
                rows.append((codec, prov["quality"], curve.bpp[i], values))
    print(f"{len(images)} images from {source}")
    if task is not None:
        print(task.description())
    print(f"{'codec':<9} {'quality':>8} {'bpp':>7} " + " ".join(f"{m:>14}" for m in columns))
    for codec, quality, bpp, values in rows:
        metrics = " ".join(f"{v:>14.4f}" for v in values)
        print(f"{codec:<9} {quality!s:>8} {bpp:>7.4f} {metrics}")
    return 0


def _usable_codecs(requested: list[str]) -> list[str]:
    from hmcodec.evaluate.classical import CODECS, available_codecs

    status = available_codecs()
    usable = []
    for name in dict.fromkeys(requested):
        if name not in status:
            raise ConfigError(f"unknown codec {name!r}; known: {', '.join(CODECS.names())}.")
        if status[name]:
            print(f"skipping {name}: {status[name]}.", file=sys.stderr)
        else:
            usable.append(name)
    if not usable:
        raise ConfigError("none of the requested codecs is available on this machine.")
    return usable


def _number(text: str) -> Quality:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"quality {text!r} is not a number.") from None
    return int(value) if value.is_integer() and "." not in text else value


def _parse_qualities(items: list[str] | None, codecs: list[str]) -> dict[str, list[Quality]]:
    """``["10", "50"]`` → the same list for every codec; ``["jpeg=10,50"]`` → for jpeg only."""
    from hmcodec.evaluate.classical import CODECS

    if not items:
        return {}
    per_codec = [item for item in items if "=" in item]
    if per_codec and len(per_codec) != len(items):
        raise ConfigError("give --qualities either as numbers or all as CODEC=Q1,Q2,...")
    if not per_codec:
        return {codec: [_number(q) for q in items] for codec in codecs}
    out: dict[str, list[Quality]] = {}
    for item in per_codec:
        codec, _, values = item.partition("=")
        if codec not in CODECS:
            raise ConfigError(f"--qualities names unknown codec {codec!r}.")
        out[codec] = [_number(q) for q in values.split(",") if q]
    return out


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name; ``ConfigError`` if none."""
    if not folder.is_dir():
        raise ConfigError(f"image folder {folder} does not exist.")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ConfigError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}.")
    return paths
