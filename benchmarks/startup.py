"""Start-up of the command line (issue 14, item 3): wall time and peak memory of ``hmcodec
--help``, ``info``, ``extract`` and ``bdrate --help`` in fresh processes, and whether each
imported torch. Median of ``--repeat`` runs; run it on an idle machine.

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


def run_once(argv: list[str]) -> tuple[float, float, bool]:
    """Wall seconds, peak RSS (MB) and whether torch was imported, of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", PROBE, *argv],
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
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"repeat": args.repeat, "python": sys.version.split()[0], "maxrss_unit": "MB"}
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = ["| command | wall (s) | peak RSS (MB) | imports torch |", "|---|---:|---:|---|"]
    lines += [
        f"| `{r['command']}` | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | "
        f"{'yes' if r['imports_torch'] else 'no'} |"
        for r in rows
    ]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
