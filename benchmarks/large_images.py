"""Time and peak memory of ``hmcodec encode`` / ``decode`` on large photos (issue 16, item 4).

Each run is a fresh ``hmcodec`` process (one intra-op thread), so its peak RSS (``wait4``'s
``ru_maxrss``) is the command's own, start-up included. Models: the demo architecture
(16/32-channel latents, 24-channel transforms) with random weights, with the serial context
model and the parallel checkerboard model on both layers; coding time and memory depend on the
architecture and the image size, not on what the weights learnt. Images: Kodak photos tiled to
each size. Sizes over the default limit (8 MP) are run twice: with the defaults (refused at
once) and with ``--max-pixels 0``.

    python benchmarks/large_images.py --out results/bench/large_images [--sizes 1 6 24]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SIZES = {1: (1152, 864), 6: (3000, 2000), 24: (6000, 4000)}  # megapixels: (width, height)
ENTROPY_MODELS = ("context", "checkerboard")
DATA = Path(os.environ.get("HMCODEC_DATA", Path(__file__).resolve().parents[2] / "shared/data"))


def build_model(entropy: str, path: Path) -> None:
    import torch
    import yaml

    from hmcodec.checkpoint import save_model
    from hmcodec.codec import ScalableCodec
    from hmcodec.train.config import PACKAGED_CONFIGS

    config = yaml.safe_load((PACKAGED_CONFIGS / "demo.yaml").read_text())["model"]
    config |= {"base_entropy": entropy, "enhancement_entropy": entropy}
    torch.manual_seed(0)
    save_model(ScalableCodec(config), path)


def tiled_photo(width: int, height: int, path: Path) -> None:
    from PIL import Image

    kodak = sorted((DATA / "kodak").glob("*.png"))
    if not kodak:
        raise SystemExit(f"no Kodak images under {DATA / 'kodak'} (set HMCODEC_DATA)")
    canvas = Image.new("RGB", (width, height))
    tiles = [Image.open(p).convert("RGB") for p in kodak]
    k = 0
    for top in range(0, height, tiles[0].height):
        for left in range(0, width, tiles[0].width):
            canvas.paste(tiles[k % len(tiles)], (left, top))
            k += 1
    canvas.save(path)


def measured(command: list[str], timeout: float) -> dict[str, object]:
    """Run ``command``: its exit code (124 on time-out), wall seconds, peak RSS (GB, from
    ``wait4``: the child's own) and the last line of its stderr."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        timed_out = not timer.is_alive()
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return {
        "exit": 124 if timed_out else process.returncode,
        "wall_s": round(wall, 2),
        "message": lines[-1] if lines and process.returncode else "",
        "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(SIZES), choices=SIZES)
    parser.add_argument("--entropy", nargs="+", default=list(ENTROPY_MODELS))
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per command")
    parser.add_argument(
        "--skip-unlimited",
        type=int,
        nargs="*",
        default=[],
        help="sizes (MP) not to rerun with --max-pixels 0",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = args.out / "large_images.json"
    rows: list[dict[str, object]] = json.loads(report.read_text()) if report.exists() else []
    done = {(r["entropy"], r["megapixels"], r["op"], r["limit"]) for r in rows}
    hmcodec = [sys.executable, "-m", "hmcodec.cli"]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for entropy in args.entropy:
            model = work / f"{entropy}.ckpt"
            build_model(entropy, model)
            for mp in args.sizes:
                width, height = SIZES[mp]
                image = work / f"{mp}mp.png"
                if not image.exists():
                    tiled_photo(width, height, image)
                limits = ["default"] if width * height <= 8_000_000 else ["default", "none"]
                if mp in args.skip_unlimited:
                    limits = ["default"]
                for limit in limits:
                    flag = ["--max-pixels", "0"] if limit == "none" else []
                    stream = work / f"{entropy}-{mp}-{limit}.hmc"
                    commands = {
                        "encode": [*hmcodec, "encode", str(model), str(image), "-o", str(stream)],
                        "decode": [
                            *hmcodec,
                            "decode",
                            str(model),
                            str(stream),
                            "-o",
                            str(work / f"{entropy}-{mp}-{limit}-out"),
                        ],
                    }
                    for op, command in commands.items():
                        if (entropy, mp, op, limit) in done:
                            continue
                        if op == "decode" and not stream.exists():
                            # a refused encode: time the refusal of a stream declaring this size
                            small = work / f"{entropy}-small.hmc"
                            if not small.exists():
                                tiled_photo(64, 64, work / "small.png")
                                subprocess.run(
                                    [
                                        *hmcodec,
                                        "encode",
                                        str(model),
                                        str(work / "small.png"),
                                        "-o",
                                        str(small),
                                    ],
                                    check=True,
                                    capture_output=True,
                                )
                            craft_size(small, stream, height, width)
                        result = measured(command + flag, args.timeout)
                        row = {
                            "entropy": entropy,
                            "megapixels": mp,
                            "width": width,
                            "height": height,
                            "op": op,
                            "limit": limit,
                            **result,
                        }
                        print(json.dumps(row), flush=True)
                        rows.append(row)
                        report.write_text(json.dumps(rows, indent=1) + "\n")
    (args.out / "large_images.md").write_text(markdown(rows))
    return 0


def craft_size(source: Path, target: Path, height: int, width: int) -> None:
    """``source`` with its declared size rewritten and the container CRCs recomputed."""
    import dataclasses

    from hmcodec.bitstream import Stream

    stream = Stream.from_bytes(source.read_bytes())
    target.write_bytes(dataclasses.replace(stream, height=height, width=width).to_bytes())


def markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| entropy model | size | limit | op | exit | wall (s) | peak RSS (GB) | refusal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['entropy']} | {r['megapixels']} MP ({r['width']}×{r['height']}) | {r['limit']}"
            f" | {r['op']} | {r['exit']} | {r['wall_s']} | {r['peak_rss_gb']} | {r['message']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
