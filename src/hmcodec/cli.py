"""The ``hmcodec`` command line: a thin layer over the Python API.

Every user error (bad stream, wrong model, odd image, missing file, bad config) ends with one
sentence on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hmcodec import __version__
from hmcodec.errors import ConfigError, HmcodecError

if TYPE_CHECKING:
    from hmcodec.limits import SizeLimits

log = logging.getLogger("hmcodec")


def _cmd_train(args: argparse.Namespace) -> int:
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


def _size_limits(args: argparse.Namespace) -> SizeLimits:
    """``--max-pixels`` / ``--max-side`` over the defaults; 0 lifts a limit."""
    from hmcodec.limits import DEFAULT_LIMITS, SizeLimits

    def pick(given: int | None, default: int | None) -> int | None:
        return default if given is None else (given or None)

    return SizeLimits(
        max_pixels=pick(args.max_pixels, DEFAULT_LIMITS.max_pixels),
        max_side=pick(args.max_side, DEFAULT_LIMITS.max_side),
    )


def _check_image_size(path: Path, limits: SizeLimits) -> None:
    """Refuse an image over the limits from its header alone, before torch is even imported;
    an unreadable image is left to ``read_image``, which says why."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - reported by read_image with its own sentence
        return
    limits.check(height, width, "the image")


def _add_size_limits(parser: argparse.ArgumentParser) -> None:
    from hmcodec.limits import DEFAULT_LIMITS

    parser.add_argument(
        "--max-pixels",
        type=whole_number(0),
        metavar="N",
        help=f"refuse larger images (default {DEFAULT_LIMITS.max_pixels}; 0: no limit)",
    )
    parser.add_argument(
        "--max-side",
        type=whole_number(0),
        metavar="N",
        help=f"refuse a longer side (default {DEFAULT_LIMITS.max_side}; 0: no limit)",
    )


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value

    return parse


def lmbda_list(text: str) -> list[float]:
    """``8`` or ``8,0.3``: positive numbers, comma-separated (an argparse type)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers"
        ) from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"every λ must be a positive number, not {text!r}")
    return values


def unit_interval(text: str) -> float:
    """A number in [0, 1] (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1]")
    return value


def quality_list(text: str) -> list[float]:
    """``0,0.5,1``: numbers in [0, 1], comma-separated (an argparse type)."""
    return [unit_interval(v) for v in text.split(",")]


def _cmd_encode(args: argparse.Namespace) -> int:
    limits = _size_limits(args)
    _check_image_size(args.image, limits)  # before torch is imported

    from hmcodec.bitstream import write_stream
    from hmcodec.checkpoint import load_model
    from hmcodec.codec.api import encode, operating_point, stream_bpp
    from hmcodec.io import read_image

    model = load_model(args.model)
    try:
        lmbdas = operating_point(model.codec, args.lmbda, args.quality)
    except ValueError as error:
        raise ConfigError(f"{error}.") from None
    image, mode = read_image(args.image)
    stream = encode(model, image, mode, limits=limits, lmbdas=lmbdas)
    size = write_stream(stream, args.output)
    rates = stream_bpp(stream)
    layers = ", ".join(
        f"layer {c.index}: {c.payload_bytes} B"
        + ("" if c.lmbda is None else f" at λ {c.lmbda:.4g}")
        for c in stream.chunks
    )
    print(f"{args.output}: {size} bytes, {rates['bpp']:.4f} bpp ({layers})")
    return 0


def _cmd_decode(args: argparse.Namespace) -> int:
    from hmcodec.bitstream import read_stream

    limits = _size_limits(args)
    stream = read_stream(args.stream)
    limits.check(stream.height, stream.width, "the stream's image")  # before torch is imported

    from hmcodec.checkpoint import load_model
    from hmcodec.codec.api import decode
    from hmcodec.io import write_png

    model = load_model(args.model)
    decoded = decode(model, stream, args.layers, limits=limits)
    written = model.codec.task.save_prediction(decoded.prediction, args.output)
    if decoded.secondary_prediction is not None:
        secondary = model.codec.secondary_task
        assert secondary is not None  # only a second task gives a secondary prediction
        written += secondary.save_prediction(decoded.secondary_prediction, f"{args.output}_enh")
    if decoded.image is not None:
        written.append(write_png(decoded.image, f"{args.output}.png"))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from hmcodec import zoo

    if args.json:
        entries = [
            {
                "name": w.name,
                "file": str(w.path),
                "sha256": w.sha256,
                "description": w.description,
                **w.meta,
            }
            for w in (zoo.manifest()[n] for n in zoo.names())
        ]
        print(json.dumps(entries, indent=2))
        return 0
    if not zoo.names():
        print("this installation of hmcodec ships no reference models.")
        return 0
    print(zoo.table())
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from hmcodec.bitstream import FORMAT_VERSION, read_stream

    stream = read_stream(args.stream)
    pixels = stream.height * stream.width
    total = len(stream.to_bytes())
    version = Path(args.stream).read_bytes()[3]  # read_stream has checked it
    converted = "" if version == FORMAT_VERSION else f"; {total} B as version {FORMAT_VERSION}"
    total = args.stream.stat().st_size
    print(f"stream        {args.stream} (format version {version}{converted})")
    print(f"image         {stream.width}×{stream.height}, source mode {stream.source_mode}")
    print(f"model         fingerprint {stream.fingerprint.hex()}")
    for chunk in stream.chunks:
        kind = "base" if chunk.index == 0 else "enhancement"
        point = "" if chunk.lmbda is None else f"  λ {chunk.lmbda:.6g}"
        print(
            f"layer {chunk.index:<7} {kind:<12} {chunk.payload_bytes:>8} B "
            f"{chunk.payload_bytes * 8 / pixels:.4f} bpp{point}"
        )
    print(
        f"total         {total} B, {total * 8 / pixels:.4f} bpp "
        f"(container overhead {total - sum(c.payload_bytes for c in stream.chunks)} B)"
    )
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    from hmcodec.bitstream import read_stream, write_stream

    stream = read_stream(args.stream)
    indices = [0] if args.layers == "base" else list(stream.layer_indices())
    size = write_stream(stream.select(indices), args.output)
    print(f"{args.output}: {size} bytes (layers {', '.join(map(str, indices))})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from hmcodec.demo import run_demo

    run_demo(args.out, overrides=args.set, progress=not args.no_progress, processes=args.processes)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hmcodec", description="Learned scalable image coding for humans and machines."
    )
    parser.add_argument("--version", action="version", version=f"hmcodec {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a codec from an experiment config")
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
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("encode", help="encode an image into a layered .hmc stream")
    p.add_argument(
        "model",
        type=Path,
        help="model file (model.ckpt) or a reference model's name (hmcodec models)",
    )
    p.add_argument("image", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="stream file (.hmc)")
    point = p.add_mutually_exclusive_group()
    point.add_argument(
        "--lmbda",
        type=lmbda_list,
        metavar="L[,L]",
        help="operating point of a variable-rate model: λ of each variable-rate layer, in "
        "layer order (see hmcodec models / the model's config)",
    )
    point.add_argument(
        "--quality",
        type=unit_interval,
        metavar="Q",
        help="operating point of a variable-rate model in [0, 1]: 0 its lowest rate, 1 its "
        "highest (default 0.5)",
    )
    _add_size_limits(p)
    p.set_defaults(func=_cmd_encode)

    p = sub.add_parser("decode", help="decode the base layer (task) or all layers (image)")
    p.add_argument("model", type=Path)
    p.add_argument("stream", type=Path)
    p.add_argument("--layers", choices=("base", "all"), default="all")
    p.add_argument("-o", "--output", required=True, help="output prefix")
    _add_size_limits(p)
    p.set_defaults(func=_cmd_decode)

    p = sub.add_parser(
        "models",
        help="the reference models that ship with hmcodec (usable by name as MODEL)",
        description="List the shipped reference models: each name can be given wherever a "
        "model file is asked for (hmcodec encode camvid-segmentation photo.png -o photo.hmc).",
    )
    p.add_argument("--json", action="store_true", help="the manifest as JSON")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("info", help="layers, bytes and bpp of a stream")
    p.add_argument("stream", type=Path)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("extract", help="cut the base layer out of a stream")
    p.add_argument("stream", type=Path)
    p.add_argument("--layers", choices=("base", "all"), default="base")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("demo", help="train a small codec on ShapesWorld and code an example")
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
    p.set_defaults(func=_cmd_demo)

    from hmcodec.evaluate.cli import register
    from hmcodec.evaluate.cli_analyze import register as register_analyze
    from hmcodec.evaluate.cli_bdrate import register as register_bdrate
    from hmcodec.evaluate.cli_learned import register as register_learned

    register_bdrate(sub)
    register(sub)
    register_learned(sub)
    register_analyze(sub)
    return parser


def configure_logging(verbose: bool = False) -> None:
    """hmcodec's notices on stderr (``--verbose`` lets Lightning's start-up chatter through)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("hmcodec: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    # CompressAI's import (the parser's subcommands load it) triggers torch's notice that
    # torch.jit.script is deprecated; it is not the user's concern
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["hmcodec", *(sys.argv[1:] if argv is None else argv)])
    configure_logging(args.verbose)

    try:
        return int(args.func(args) or 0)
    except HmcodecError as error:
        print(f"hmcodec: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("hmcodec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
