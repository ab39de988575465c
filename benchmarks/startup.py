"""Start-up of the command line (issue 14, item 3): wall time and peak memory of ``hmcodec
--help``, ``info``, ``extract`` and ``bdrate --help`` in fresh processes, and whether each
imported torch; and ``hmcodec encode`` / ``decode`` of a photo with a shipped model, split into
start-up and the coding itself. Median of ``--repeat`` runs; run it on an idle machine.

For encode and decode, "coding" is the median of ``--repeat`` calls of the API's ``encode`` /
``decode`` on the same image and stream inside this process (model loaded, warm), and
"start-up" is the fresh command's wall time minus that: interpreter, imports, reading the model
and the input, writing the output. The time to the first decoded image is start-up + coding.

    python benchmarks/startup.py --out results/bench/startup
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STREAM = REPO / "tests/golden/v2/context-conditional-48x32.hmc"
PROBE = (
    "import sys; from hmcodec.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "print('torch' in sys.modules, file=sys.stderr)"
)


def commands(work: Path) -> dict[str, list[str]]:
    return {
        "hmcodec --help": ["--help"],
        "hmcodec info": ["info", str(STREAM)],
        "hmcodec extract": ["extract", str(STREAM), "-o", str(work / "base.hmc")],
        "hmcodec bdrate --help": ["bdrate", "--help"],
    }


#: the coding commands: a shipped model and a Kodak photo (768×512)
MODEL = "shapesworld-segmentation"
PHOTO = REPO.parent / "shared/data/kodak/kodim01.png"


def coding_commands(work: Path) -> dict[str, list[str]]:
    stream = work / "photo.hmc"
    return {
        "hmcodec encode": ["encode", MODEL, str(PHOTO), "-o", str(stream)],
        "hmcodec decode": ["decode", MODEL, str(stream), "-o", str(work / "decoded")],
    }


def coding_seconds(work: Path, repeat: int) -> dict[str, float]:
    """In-process median seconds of the API's encode and decode (warm), 1 thread."""
    import torch

    from hmcodec.bitstream import read_stream
    from hmcodec.checkpoint import load_model
    from hmcodec.codec.api import decode, encode
    from hmcodec.io import read_image

    torch.set_num_threads(1)
    model = load_model(MODEL)
    image = read_image(PHOTO)[0]
    stream = read_stream(work / "photo.hmc")

    def median(function) -> float:
        function()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return {
        "hmcodec encode": median(lambda: encode(model, image)),
        "hmcodec decode": median(lambda: decode(model, stream, "all")),
    }


#: a fresh process up to a loaded model: what ``decode`` pays before its first symbol
READY = (
    "import sys; from hmcodec.checkpoint import load_model; from hmcodec.codec.api import decode\n"
    f"load_model({MODEL!r}); print('torch' in sys.modules, file=sys.stderr)"
)


def run_once(argv: list[str], probe: str = PROBE) -> tuple[float, float, bool]:
    """Wall seconds, peak RSS (MB) and whether torch was imported, of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", probe, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    _, _, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    imported = process.stderr.read().strip().endswith("True")
    return seconds, usage.ru_maxrss / 1024, imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, argv in commands(Path(work)).items():
            runs = [run_once(argv) for _ in range(args.repeat)]
            rows.append(
                {
                    "command": name,
                    "seconds": round(statistics.median(r[0] for r in runs), 3),
                    "peak_rss_mb": round(max(r[1] for r in runs), 1),
                    "imports_torch": any(r[2] for r in runs),
                }
            )
        coding = coding_commands(Path(work))
        runs_by_name = {
            name: [run_once(argv) for _ in range(args.repeat)] for name, argv in coding.items()
        }
        inside = coding_seconds(Path(work), args.repeat)
        ready = [run_once([], READY) for _ in range(args.repeat)]
        rows.append(
            {
                "command": "imports + model loaded (decode ready)",
                "seconds": round(statistics.median(r[0] for r in ready), 3),
                "peak_rss_mb": round(max(r[1] for r in ready), 1),
                "imports_torch": True,
            }
        )
        for name, runs in runs_by_name.items():
            wall = statistics.median(r[0] for r in runs)
            rows.append(
                {
                    "command": name,
                    "seconds": round(wall, 3),
                    "peak_rss_mb": round(max(r[1] for r in runs), 1),
                    "imports_torch": any(r[2] for r in runs),
                    "coding_seconds": round(inside[name], 3),
                    "startup_seconds": round(wall - inside[name], 3),
                }
            )
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "maxrss_unit": "MB",
        "model": MODEL,
        "photo": PHOTO.name,
        "command": "python benchmarks/startup.py " + " ".join(sys.argv[1:]),
    }
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        "| command | wall (s) | start-up (s) | coding (s) | peak RSS (MB) | imports torch |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| `{r['command']}` | {r['seconds']:.2f} | {r.get('startup_seconds', r['seconds']):.2f} "
        f"| {r.get('coding_seconds', 0.0):.2f} | {r['peak_rss_mb']:.0f} | "
        f"{'yes' if r['imports_torch'] else 'no'} |"
        for r in rows
    ]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
