"""``hmcodec encode``, ``decode``, ``models``, ``info`` and ``extract``: added by :func:`register`.

``info`` and ``extract`` read the container only (no torch); ``encode`` and ``decode`` check the
image's or stream's size against the limits before torch is imported.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from hmcodec.cli.arguments import lmbda_list, unit_interval, whole_number
from hmcodec.errors import ConfigError

if TYPE_CHECKING:
    from hmcodec.limits import SizeLimits


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``encode``, ``decode``, ``models``, ``info`` and ``extract`` subcommands."""
    p = subparsers.add_parser("encode", help="encode an image into a layered .hmc stream")
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
    p.set_defaults(func=run_encode)

    p = subparsers.add_parser("decode", help="decode the base layer (task) or all layers (image)")
    p.add_argument("model", type=Path)
    p.add_argument("stream", type=Path)
    p.add_argument("--layers", choices=("base", "all"), default="all")
    p.add_argument("-o", "--output", required=True, help="output prefix")
    _add_size_limits(p)
    p.set_defaults(func=run_decode)

    p = subparsers.add_parser(
        "models",
        help="the reference models that ship with hmcodec (usable by name as MODEL)",
        description="List the shipped reference models: each name can be given wherever a "
        "model file is asked for (hmcodec encode camvid-segmentation photo.png -o photo.hmc).",
    )
    p.add_argument("--json", action="store_true", help="the manifest as JSON")
    p.set_defaults(func=run_models)

    p = subparsers.add_parser("info", help="layers, bytes and bpp of a stream")
    p.add_argument("stream", type=Path)
    p.set_defaults(func=run_info)

    p = subparsers.add_parser("extract", help="cut the base layer out of a stream")
    p.add_argument("stream", type=Path)
    p.add_argument("--layers", choices=("base", "all"), default="base")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(func=run_extract)


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


def size_limits(args: argparse.Namespace) -> SizeLimits:
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


def run_encode(args: argparse.Namespace) -> int:
    limits = size_limits(args)
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


def run_decode(args: argparse.Namespace) -> int:
    from hmcodec.bitstream import read_stream

    limits = size_limits(args)
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


def run_models(args: argparse.Namespace) -> int:
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


def run_info(args: argparse.Namespace) -> int:
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


def run_extract(args: argparse.Namespace) -> int:
    from hmcodec.bitstream import read_stream, write_stream

    stream = read_stream(args.stream)
    indices = [0] if args.layers == "base" else list(stream.layer_indices())
    size = write_stream(stream.select(indices), args.output)
    print(f"{args.output}: {size} bytes (layers {', '.join(map(str, indices))})")
    return 0
