"""Rate of the hyperprior compositions on trained layers (issue 14).

Two campaigns: ShapesWorld (``reproduce.sh``; layers trained on 64×64 crops, results here) and
CamVid (``camvid.sh``; layers trained on 160×160 crops of CamVid photos, evaluated on Kodak,
results in ``camvid/``). For each campaign and evaluation set, every entropy model's
enhancement-layer curve (rate: the layer's payload, ``bpp_enhancement``; quality: PSNR of the
full decode) is compared over seeds
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
# campaign → (results folders, searched in order for each arm; {evaluation set suffix:
# description}; the command that writes it). Before hmcodec 0.3.1 a hyperprior's quantiles were
# clipped with the transforms (docs/benchmarks.md, "Clipping and the hyperprior"): the
# ShapesWorld hyperprior arms and the CamVid arms in camvid/clip_coupled were trained so; the
# context arm has no quantiles, so its runs serve both CamVid campaigns.
CAMPAIGNS = {
    "ShapesWorld (hyperprior arms trained with the quantiles clipped too)": (
        (HERE,),
        {"256": "64 test images at 256×256", "64": "256 test images at 64×64"},
        "bash results/bench/entropy_models/reproduce.sh",
    ),
    "CamVid": (
        (HERE / "camvid",),
        {
            "kodak": "all 24 Kodak images (768×512), layers trained on CamVid 160×160 crops",
            "camvid": "60 CamVid test images (480×360, full resolution): in distribution",
        },
        "bash results/bench/entropy_models/camvid.sh",
    ),
    "CamVid, hyperprior arms trained with the quantiles clipped too (hmcodec 0.3.0)": (
        (HERE / "camvid" / "clip_coupled", HERE / "camvid"),
        {"kodak": "all 24 Kodak images (768×512), layers trained on CamVid 160×160 crops"},
        "bash results/bench/entropy_models/camvid.sh with hmcodec 0.3.0",
    ),
}
RATE, METRIC = "bpp_enhancement", "psnr-rgb"


def curves(folders: tuple[Path, ...], arm: str, size: str) -> list[RDResults]:
    """The arm's seeds from the first of ``folders`` that has any."""
    for folder in folders:
        paths = sorted(folder.glob(f"{arm}_seed*_{size}.json"))
        if paths:
            return [RDResults.load(path) for path in paths]
    return []


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
    if math.isinf(value):  # two seeds of one arm share no quality range on this test set
        return "seeds apart"
    return "—" if math.isnan(value) else f"{value:+.1f}{unit}"


def main() -> int:
    rows, table = [], []
    for campaign, (folders, sizes, command) in CAMPAIGNS.items():
        table += [f"## {campaign}: `{command}`", ""]
        rows += compare(campaign, folders, sizes, table)
    text = "\n".join(
        [
            "# Entropy models on trained layers (issue 14)",
            "",
            "Analysis: `python results/bench/entropy_models/analyse.py`. BD-rate on the "
            "enhancement layer's payload at equal full-decode PSNR (PCHIP); negative: fewer bits "
            'than the anchor. Seed spread: the largest |BD| between two seeds of one arm ("seeds '
            'apart": two seeds share no PSNR range, so the BD-rate cannot be trusted and the '
            "BD-PSNR, with its own spread in dB, is the figure to read). Measured − estimated: "
            "mean over the RD points of the payload against −Σlog₂p.",
            "",
            *table,
        ]
    )
    (HERE / "results.md").write_text(text + "\n")
    (HERE / "results.json").write_text(json.dumps(rows, indent=2, allow_nan=True) + "\n")
    print(text)
    return 0


def compare(
    campaign: str, folders: tuple[Path, ...], sizes: dict[str, str], table: list[str]
) -> list[dict[str, object]]:
    """Append one campaign's tables to ``table``; return its rows for ``results.json``."""
    rows: list[dict[str, object]] = []
    for size, description in sizes.items():
        table += [
            f"### {description}",
            "",
            "| entropy model | seeds | against | BD-rate (mean, pairs) | seed spread | verdict | "
            "shared range | BD-PSNR (dB) | measured − estimated (enhancement / base) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        landed = {arm: curves(folders, arm, size) for arm in ARMS}
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
                    if not math.isnan(psnr.spread):
                        bd_psnr += f" (spread {psnr.spread:.2f})"
                except ConfigError:
                    bd_psnr = "undefined"
                try:
                    result = compare_seeds(landed[anchor], tests, METRIC, rate=RATE)
                except ConfigError:
                    cells = f"{arm} | {len(tests)} | {anchor} | undefined (PSNR ranges apart)"
                    table.append(f"| {cells} | | | 0% | {bd_psnr} | {gaps} |")
                    rows.append(
                        {
                            "campaign": campaign,
                            "size": size,
                            "entropy": arm,
                            "anchor": anchor,
                            "bd_psnr_mean": bd_psnr,
                        }
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
                        "campaign": campaign,
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
            write_report(
                present, folders[0] / f"rd_{size}", None, [METRIC], f"{campaign}: {description}"
            )
    return rows


if __name__ == "__main__":
    sys.exit(main())
