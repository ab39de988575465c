"""``hmcodec bdrate``, ``hmcodec plot`` and ``hmcodec baselines``: added by :func:`register`.

The main ``hmcodec`` CLI calls ``register(subparsers)``; each subcommand's ``func(args)``
returns an exit code and raises :class:`~hmcodec.errors.HmcodecError` for user errors.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from tqdm import tqdm

from hmcodec.errors import ConfigError
from hmcodec.evaluate.bdrate import DEFAULT_METHOD, METHODS, compare
from hmcodec.evaluate.classical import CODECS, Quality, available_codecs, sweep
from hmcodec.evaluate.plot import write_report
from hmcodec.evaluate.results import RDResults
from hmcodec.io import read_image, to_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_CODECS = ("jpeg", "webp", "avif", "jpeg2000", "jpegxl")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bdrate``, ``plot`` and ``baselines`` subcommands."""
    p = subparsers.add_parser(
        "bdrate",
        help="BD-rate and BD-metric of one RD results file against another",
        description="Print BD-rate (%) and BD-metric of TEST against ANCHOR with a piecewise "
        "cubic method and with the VCEG-M33 cubic polynomial.",
    )
    p.add_argument("anchor", type=Path, help="anchor results JSON (ours or CompressAI's)")
    p.add_argument("test", type=Path, help="test results JSON")
    p.add_argument("--metric", default="psnr-rgb", help="quality metric (default: psnr-rgb)")
    p.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        choices=METHODS,
        help=f"interpolation (default: {DEFAULT_METHOD}); cubic is always printed as well",
    )
    p.set_defaults(func=run_bdrate)

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
        description="Encode every image of IMAGE_DIR with each codec at each quality and write "
        "OUT_DIR/<codec>.json. Qualities are each codec's native knob; see docs/evaluation.md.",
    )
    p.add_argument("image_dir", type=Path, help="folder of images (png, jpg, ppm, ...)")
    p.add_argument(
        "--codecs",
        nargs="+",
        default=list(DEFAULT_CODECS),
        metavar="CODEC",
        help=f"codecs among {', '.join(CODECS.names())} (default: {' '.join(DEFAULT_CODECS)})",
    )
    p.add_argument(
        "--qualities",
        nargs="+",
        metavar="Q",
        help="qualities for every codec (e.g. 10 50 90), or per codec (jpeg=10,50,90 webp=...)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--max-images", type=int, help="use only the first N images (sorted by name)")
    p.add_argument("--dataset", help="dataset name for descriptions (default: folder name)")
    p.set_defaults(func=run_baselines)


def run_bdrate(args: argparse.Namespace) -> int:
    anchor, test = RDResults.load(args.anchor), RDResults.load(args.test)
    methods = list(dict.fromkeys([args.method, "cubic"]))
    results = compare(anchor, test, args.metric, methods)
    print(f"anchor: {anchor.name} ({args.anchor})")
    print(f"test:   {test.name} ({args.test})")
    print(f"metric: {results[0].metric}, shared metric range {results[0].overlap:.0%}")
    names = {"pchip": "PCHIP", "akima": "Akima", "cubic": "cubic (VCEG-M33)"}
    for r in results:
        print(
            f"  {names[r.method]:<17} BD-rate {r.bd_rate:+8.2f} %   "
            f"BD-{r.metric} {r.bd_metric:+.4f}"
        )
    return 0


def run_plot(args: argparse.Namespace) -> int:
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
    codecs = _usable_codecs(args.codecs)
    qualities = _parse_qualities(args.qualities, codecs)
    paths = list_images(args.image_dir)[: args.max_images]
    images = [to_uint8(read_image(path)[0]) for path in paths]
    names = [path.name for path in paths]
    dataset = args.dataset or args.image_dir.resolve().name
    command = command_line(args)
    total = sum(len(qualities.get(c) or CODECS.build(c).default_qualities) for c in codecs)
    rows: list[tuple[str, Quality, float, float, float]] = []
    with tqdm(total=total * len(images), unit="img", desc="baselines", mininterval=2) as bar:
        for codec in codecs:
            bar.set_postfix_str(codec)
            curve = sweep(
                images,
                codec,
                qualities.get(codec),
                names=names,
                command=command,
                dataset=dataset,
                progress=bar.update,
            )
            path = curve.save(args.output / f"{codec}.json")
            tqdm.write(f"wrote {path}")
            for i, prov in enumerate(curve.provenance):
                r = curve.results
                rows.append(
                    (codec, prov["quality"], r["bpp"][i], r["psnr-rgb"][i], r["ms-ssim"][i])
                )
    print(f"{len(images)} images from {args.image_dir}")
    print(f"{'codec':<9} {'quality':>8} {'bpp':>7} {'PSNR-RGB':>9} {'MS-SSIM':>8}")
    for codec, quality, bpp, psnr, msssim in rows:
        print(f"{codec:<9} {quality:>8} {bpp:>7.4f} {psnr:>9.3f} {msssim:>8.5f}")
    return 0


def _usable_codecs(requested: list[str]) -> list[str]:
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


def command_line(args: argparse.Namespace) -> str:
    """The command as typed, for provenance (always spelled ``hmcodec ...``)."""
    return getattr(args, "command_line", None) or shlex.join(["hmcodec", *sys.argv[1:]])
