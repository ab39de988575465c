"""Start-up of the command line (issue 14, item 3) in fresh processes, median of ``--repeat`` runs;
run it on an idle machine.

* ``hmcodec --help``, ``info``, ``extract`` and ``bdrate --help``: wall time, peak memory and
  whether torch was imported;
* ``hmcodec encode`` and ``hmcodec decode`` of a Kodak image with a shipped model, split into
  start-up and coding: *imports* (process start → ``load_model`` called: the interpreter,
  hmcodec, torch, CompressAI's coder, reading the image or stream), *model load*
  (``load_model``), *coding* (``encode``/``decode`` of :mod:`hmcodec.codec.api`), and the
  time from process start to the model loaded and to the stream encoded / the first decoded
  image. The probe wraps those two functions to take the time stamps (``CLOCK_MONOTONIC``, the
  same clock in every process); nothing else changes.

    python benchmarks/startup.py --out results/bench/startup
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STREAM = REPO / "tests/golden/v2/context-conditional-48x32.hmc"
DATA = Path(os.environ.get("HMCODEC_DATA", REPO.parent / "shared/data"))
IMAGE = DATA / "kodak/kodim01.png"
MODEL = "shapesworld-segmentation"
PROBE = (
    "import sys; from hmcodec.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "print('torch' in sys.modules, file=sys.stderr)"
)
#: encode/decode: time stamps around ``load_model`` and the coder, printed as JSON on stderr.
CODING_PROBE = """
import json, sys, time
import hmcodec.checkpoint, hmcodec.codec.api
from hmcodec.cli import main

marks = {}


def stamp(module, name):
    original = getattr(module, name)

    def timed(*args, **kwargs):
        marks.setdefault(name + "_called", time.clock_gettime(time.CLOCK_MONOTONIC))
        result = original(*args, **kwargs)
        marks.setdefault(name + "_done", time.clock_gettime(time.CLOCK_MONOTONIC))
        return result

    setattr(module, name, timed)


stamp(hmcodec.checkpoint, "load_model")
stamp(hmcodec.codec.api, sys.argv[1])
code = main(sys.argv[1:])
marks["main_done"] = time.clock_gettime(time.CLOCK_MONOTONIC)
print(json.dumps({"code": code, "marks": marks}), file=sys.stderr)
"""


def commands(work: Path) -> dict[str, list[str]]:
    return {
        "hmcodec --help": ["--help"],
        "hmcodec info": ["info", str(STREAM)],
        "hmcodec extract": ["extract", str(STREAM), "-o", str(work / "base.hmc")],
        "hmcodec bdrate --help": ["bdrate", "--help"],
    }


def _now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _spawn(code: str, argv: list[str]) -> tuple[float, float, float, str, int]:
    """Start time, wall seconds, peak RSS (MB), stderr and exit status of one fresh process."""
    start = _now()
    process = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    assert process.stderr is not None
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    return start, _now() - start, usage.ru_maxrss / 1024, err, os.waitstatus_to_exitcode(status)


def run_once(argv: list[str]) -> tuple[float, float, bool]:
    """Wall seconds, peak RSS (MB) and whether torch was imported, of one fresh process."""
    _, seconds, rss, err, _ = _spawn(PROBE, argv)
    return seconds, rss, err.strip().endswith("True")


def coding_once(argv: list[str]) -> dict[str, float]:
    """The phases (seconds) of one fresh ``hmcodec encode``/``decode`` process."""
    start, wall, rss, err, status = _spawn(CODING_PROBE, argv)
    report = json.loads(err.strip().splitlines()[-1]) if err.strip() else {}
    if status != 0 or report.get("code") != 0:
        raise SystemExit(f"hmcodec {' '.join(argv)} failed:\n{err}")
    m = {k: v - start for k, v in report["marks"].items()}
    coder = argv[0]
    return {
        "imports_s": m["load_model_called"],
        "model_load_s": m["load_model_done"] - m["load_model_called"],
        "to_model_s": m["load_model_done"],
        "coding_s": m[f"{coder}_done"] - m[f"{coder}_called"],
        "to_coded_s": m[f"{coder}_done"],
        "wall_s": wall,
        "peak_rss_mb": rss,
    }


def _median_row(name: str, runs: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"command": name}
    for key in runs[0]:
        values = [r[key] for r in runs]
        row[key] = round(max(values) if key == "peak_rss_mb" else statistics.median(values), 3)
    row["startup_s"] = round(row["to_coded_s"] - row["coding_s"], 3)
    return row


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", default=MODEL, help=f"model file or name (default {MODEL})")
    parser.add_argument("--image", type=Path, default=IMAGE, help="image to code (kodim01)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not args.image.is_file():
        raise SystemExit(f"no image at {args.image} (set HMCODEC_DATA or pass --image)")
    load_before = _load()
    rows, coding = [], []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for name, argv in commands(work).items():
            runs = [run_once(argv) for _ in range(args.repeat)]
            rows.append(
                {
                    "command": name,
                    "seconds": round(statistics.median(r[0] for r in runs), 3),
                    "peak_rss_mb": round(max(r[1] for r in runs), 1),
                    "imports_torch": any(r[2] for r in runs),
                }
            )
        stream = work / "image.hmc"
        encode = ["encode", str(args.model), str(args.image), "-o", str(stream)]
        decode = ["decode", str(args.model), str(stream), "-o", str(work / "out")]
        coding.append(
            _median_row("hmcodec encode", [coding_once(encode) for _ in range(args.repeat)])
        )
        coding.append(
            _median_row("hmcodec decode", [coding_once(decode) for _ in range(args.repeat)])
        )
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "model": str(args.model),
        "image": args.image.name,
        "load_average_before": load_before,
        "load_average_after": _load(),
        "maxrss_unit": "MB",
    }
    document = {"meta": meta, "rows": rows, "coding": coding}
    (args.out / "results.json").write_text(json.dumps(document, indent=1) + "\n")
    lines = ["| command | wall (s) | peak RSS (MB) | imports torch |", "|---|---:|---:|---|"]
    lines += [
        f"| `{r['command']}` | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | "
        f"{'yes' if r['imports_torch'] else 'no'} |"
        for r in rows
    ]
    lines += [
        "",
        f"`{args.model}`, {args.image.name}:",
        "",
        "| command | imports (s) | model load (s) | to the model (s) | coding (s) "
        "| to the stream / first image (s) | start-up (s) | wall (s) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| `{r['command']}` | {r['imports_s']:.2f} | {r['model_load_s']:.2f} | "
        f"{r['to_model_s']:.2f} | {r['coding_s']:.2f} | {r['to_coded_s']:.2f} | "
        f"{r['startup_s']:.2f} | {r['wall_s']:.2f} | {r['peak_rss_mb']:.0f} |"
        for r in coding
    ]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"load average before {load_before}, after {meta['load_average_after']}")


if __name__ == "__main__":
    main()
