"""Rate of the hyperprior compositions on trained layers (issue 14), from ``reproduce.sh``.

For each evaluation size, every entropy model's enhancement-layer curve (rate: the layer's
payload, ``bpp_enhancement``; quality: PSNR of the full decode) is compared over seeds
(:func:`~hmcodec.evaluate.bdrate.compare_seeds`) with ``hyperprior-context`` (Minnen 2018's
serial joint model, the goal's reference: within 5 %) and with ``context`` (today's serial
context without a hyperprior). The measured payload against the estimate −Σlog₂p is given per
arm. Arms that have not landed yet are listed as missing, so the script runs at any point.
Writes ``results.md``, ``results.json`` and the RD plots here. Run from the repository root:
    python results/bench/entropy_models/analyse.py
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from hmcodec.errors import ConfigError
from hmcodec.evaluate.bdrate import compare_seeds
from hmcodec.evaluate.plot import write_report
from hmcodec.evaluate.results import RDResults

HERE = Path(__file__).resolve().parent
ARMS = ("hyperprior-context", "hyperprior-checkerboard", "hyperprior-elic", "context")
ANCHORS = ("hyperprior-context", "context")
SIZES = {"256": "64 test images at 256×256", "64": "256 test images at 64×64"}
RATE, METRIC = "bpp_enhancement", "psnr-rgb"


def curves(arm: str, size: str) -> list[RDResults]:
    paths = sorted(HERE.glob(f"{arm}_seed*_{size}.json"))
    return [RDResults.load(path) for path in paths]


def rate_gap(results: list[RDResults], layer: str) -> float:
    """Mean relative gap of the measured payload of ``layer`` over its estimate, in percent."""
    gaps = [
        (measured - estimated) / estimated
        for r in results
        for measured, estimated in zip(
            r.values(f"bpp_{layer}"), r.values(f"bpp_estimated_{layer}"), strict=True
        )
    ]
    return 100 * sum(gaps) / len(gaps) if gaps else math.nan


def figure(value: float, unit: str = " %") -> str:
    return "—" if math.isnan(value) else f"{value:+.1f}{unit}"


def main() -> int:
    rows, table = [], []
    for size, description in SIZES.items():
        table += [
            f"## {description}",
            "",
            "| entropy model | seeds | against | BD-rate (mean, pairs) | seed spread | verdict | "
            "shared range | BD-PSNR (dB) | measured − estimated (enhancement / base) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        landed = {arm: curves(arm, size) for arm in ARMS}
        for arm in ARMS:
            tests = landed[arm]
            if not tests:
                table.append(f"| {arm} | 0 | | not landed | | | | | |")
                continue
            gaps = f"{figure(rate_gap(tests, 'enhancement'))} / {figure(rate_gap(tests, 'base'))}"
            for anchor in ANCHORS:
                if anchor == arm or not landed[anchor]:
                    continue
                try:  # PSNR at equal rate: defined where the PSNR ranges do not overlap
                    psnr = compare_seeds(landed[anchor], tests, METRIC, rate=RATE, measure="metric")
                    bd_psnr = f"{psnr.mean:+.2f}"
                except ConfigError:
                    bd_psnr = "undefined"
                try:
                    result = compare_seeds(landed[anchor], tests, METRIC, rate=RATE)
                except ConfigError:
                    cells = f"{arm} | {len(tests)} | {anchor} | undefined (PSNR ranges apart)"
                    table.append(f"| {cells} | | | 0% | {bd_psnr} | {gaps} |")
                    rows.append(
                        {"size": size, "entropy": arm, "anchor": anchor, "bd_psnr_mean": bd_psnr}
                    )
                    continue
                pairs = ", ".join(f"{p:+.1f}" for p in result.pairs)
                table.append(
                    f"| {arm} | {len(tests)} | {anchor} | {result.mean:+.1f} % ({pairs}) | "
                    f"{figure(result.spread)} | {result.verdict} | {result.shared:.0%} | "
                    f"{bd_psnr} | {gaps} |"
                )
                rows.append(
                    {
                        "size": size,
                        "entropy": arm,
                        "anchor": anchor,
                        "seeds": len(tests),
                        "bd_rate_mean": result.mean,
                        "bd_rate_pairs": list(result.pairs),
                        "seed_spread": result.spread,
                        "verdict": result.verdict,
                        "shared_range": result.shared,
                        "bd_psnr_mean": bd_psnr,
                        "rate_gap_enhancement_percent": rate_gap(tests, "enhancement"),
                        "rate_gap_base_percent": rate_gap(tests, "base"),
                    }
                )
        table.append("")
        present = [c for arm in ARMS for c in landed[arm][:1]]
        if present:
            write_report(present, HERE / f"rd_{size}", None, [METRIC], f"ShapesWorld {description}")
    text = "\n".join(
        [
            "# Entropy models on trained layers (issue 14)",
            "",
            "From `bash results/bench/entropy_models/reproduce.sh` (analysis: "
            "`python results/bench/entropy_models/analyse.py`). BD-rate on the enhancement "
            "layer's payload at equal full-decode PSNR (PCHIP); negative: fewer bits than the "
            "anchor. Measured − estimated: mean over the RD points of the payload against "
            "−Σlog₂p.",
            "",
            *table,
        ]
    )
    (HERE / "results.md").write_text(text + "\n")
    (HERE / "results.json").write_text(json.dumps(rows, indent=2, allow_nan=True) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
