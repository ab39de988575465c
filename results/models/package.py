"""Copy trained reference models into the package and write ``hmcodec/weights/manifest.json``.

Reads ``results/models/models.yaml``: per model its name, the trained run's ``model.ckpt``,
a description, the command that trained it, and the results files whose figures the manifest
quotes (ranges of a metric and the rate, and BD-rates against baselines). Every figure in
``hmcodec models`` comes from here. Run from the repository root after the training and
evaluation scripts:  python results/models/package.py
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import yaml

from hmcodec.checkpoint import load_model
from hmcodec.errors import ConfigError
from hmcodec.evaluate.bdrate import bd_metric, bd_rate, shared_range
from hmcodec.evaluate.results import RDResults

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "src" / "hmcodec" / "weights"
#: the most a shipped file may weigh (issue 13: 10 MB each, 30 MB in all).
LIMIT, TOTAL_LIMIT = 10_000_000, 30_000_000


def span(values: list[float], digits: int) -> str:
    low, high = min(values), max(values)
    return (
        f"{low:.{digits}f}"
        if round(low, digits) == round(high, digits)
        else (f"{low:.{digits}f}–{high:.{digits}f}")
    )


def figure(spec: dict[str, str]) -> str:
    """One quoted figure: a metric's range over a results file's points, or a BD-rate."""
    if "anchor" in spec:
        anchor, test = RDResults.load(ROOT / spec["anchor"]), RDResults.load(ROOT / spec["test"])
        metric = spec.get("metric", "psnr-rgb")
        try:
            share = shared_range(anchor, test, metric)
            value = bd_rate(anchor, test, metric)
            return f"{spec['label']}: BD-rate {value:+.1f} % ({share:.0%} shared {metric} range)"
        except ConfigError:  # no shared quality: the quality difference at equal rate
            try:
                gap = bd_metric(anchor, test, metric)
                return f"{spec['label']}: no shared {metric} range; BD-{metric} {gap:+.2f}"
            except ConfigError:
                return f"{spec['label']}: no shared {metric} or rate range"
    curve = RDResults.load(ROOT / spec["results"])
    metric = spec["metric"]
    digits = int(spec.get("digits", 2))
    rate = spec.get("rate", "bpp")
    rates = curve.bpp if rate == "bpp" else curve.values(rate)
    return f"{spec['label']}: {metric} {span(curve.values(metric), digits)} at {span(rates, 3)} bpp"


def main() -> int:
    specs = yaml.safe_load((ROOT / "results" / "models" / "models.yaml").read_text())
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    entries, total = [], 0
    for spec in specs["models"]:
        source = ROOT / spec["run"]
        model = load_model(source)  # refuses a damaged file before it is shipped
        size = source.stat().st_size
        if size > LIMIT:
            raise SystemExit(f"{source} weighs {size} bytes, over the {LIMIT}-byte limit.")
        total += size
        target = WEIGHTS / f"{spec['name']}.ckpt"
        shutil.copyfile(source, target)
        entries.append(
            {
                "name": spec["name"],
                "file": target.name,
                "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
                "bytes": size,
                "description": spec["description"],
                "config": model.codec.config.as_dict(),
                "rate_ranges": {
                    str(i): [r.lmbda_min, r.lmbda_max] for i, r in model.codec.rate_ranges().items()
                },
                "command": spec["command"],
                "figures": [figure(f) for f in spec.get("figures", [])],
                "fingerprint": model.fingerprint.hex(),
            }
        )
        print(f"{target}: {size / 1e6:.2f} MB")
    if total > TOTAL_LIMIT:
        raise SystemExit(f"the reference models weigh {total} bytes, over {TOTAL_LIMIT}.")
    for stale in WEIGHTS.glob("*.ckpt"):
        if stale.name not in {e["file"] for e in entries}:
            stale.unlink()
    text = json.dumps({"models": entries}, indent=2, ensure_ascii=False) + "\n"
    (WEIGHTS / "manifest.json").write_text(text, encoding="utf-8")
    print(f"wrote {WEIGHTS / 'manifest.json'} ({len(entries)} models, {total / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
