"""Verdicts of experiments 1–4 (issue 13) from the seeds that ``beta.sh``, ``methods.sh`` and
``auxiliary.sh`` wrote.

Every comparison is ``hmcodec bdrate`` over seeds (:func:`compare_seeds`): the mean BD-rate over
every pair of seeds, its range, each arm's seed spread, and the verdict against the paper's
claim: "holds" (beyond the seed spread, in the paper's direction), "does not hold" (beyond it,
the other way) or "within seed spread". Base re-use against simulcast comes from
``hmcodec scalable-analysis`` per seed. Writes ``findings.md`` and ``findings.json`` here and
the RD plots; comparisons whose runs have not landed yet are listed as such, so the script can
run at any point of a campaign. Run from the repository root:
    python results/shapesworld/findings/analyse.py
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from hmcodec.errors import ConfigError
from hmcodec.evaluate.bdrate import SeedComparison, compare_seeds
from hmcodec.evaluate.plot import write_report
from hmcodec.evaluate.results import RDResults
from hmcodec.evaluate.scalable import analyse

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1, 2)  # the seeds present are used (experiment 4's detection arms have two)


@dataclass(frozen=True)
class Comparison:
    experiment: str
    finding: str
    paper: str
    anchor: str  # results stem, "_seed<k>.json" appended
    test: str
    metric: str = "psnr-rgb"
    #: the paper's direction: -1 the test needs fewer bits, +1 more, 0 "about equal".
    claim: int = -1
    rate: str = "bpp"


COMPARISONS = [
    Comparison(
        "1",
        "β = 0.1 vs β = 0: base task (depth RMSE)",
        "−75 % (Cityscapes depth)",
        "base_beta0",
        "base_beta0.1",
        "rmse",
    ),
    Comparison(
        "1",
        "β = 0.1 vs β = 0: reconstruction from the base, g_a(ŷ_b)",
        "(motivation)",
        "base_beta0",
        "base_beta0.1",
        "psnr_base_direct",
    ),
    Comparison(
        "1",
        "β = 0.1 vs β = 0: scalable reconstruction (conditional layer)",
        "−22 % (Cityscapes depth)",
        "conditional_beta0",
        "conditional_beta0.1",
    ),
    Comparison(
        "2",
        "depth base → segmentation layer, β = 0.1 vs β = 0",
        "−26 %",
        "segmentation_beta0",
        "segmentation_beta0.1",
        "enhancement_miou",
    ),
    Comparison(
        "3",
        "residual vs conditional",
        "≈ 0 (conditional ≈ residual)",
        "conditional",
        "residual",
        claim=0,
    ),
    Comparison(
        "3",
        'grouped ("enhanced") entropy model vs serial context, conditional',
        "< 0 (the improved entropy model)",
        "conditional",
        "grouped",
    ),
    Comparison(
        "3",
        "conditional vs paper 002's standalone (upper baseline)",
        "> 0 (scalable costs more than the layer alone)",
        "standalone",
        "conditional",
        claim=1,
    ),
    Comparison(
        "4",
        "auxiliary branch (α = 0.5, shallow) vs none: base task (mIoU), deep frozen task model",
        "−20.3 % (segmentation)",
        "machine-deep",
        "auxiliary-deep",
        "miou",
    ),
    Comparison(
        "4",
        "auxiliary branch (α = 0.5, shallow) vs none: base task (mAP), frozen tiny FCOS detector",
        "−27.7 % (detection)",
        "machine-detection",
        "auxiliary-detection",
        "map",
    ),
    Comparison(
        "4",
        "auxiliary branch vs none: base task (mAP), tiny FCOS, bases from an image-codec start",
        "−27.7 % (detection)",
        "machine-detection-start",
        "auxiliary-detection-start",
        "map",
    ),
    Comparison(
        "4",
        "image-codec start vs cold start: base task (mAP), tiny FCOS, no auxiliary branch",
        "(not in the papers: ≤ 0)",
        "machine-detection",
        "machine-detection-start",
        "map",
    ),
    Comparison(
        "3+",
        "conditional-synthesis vs conditional",
        "(beyond the papers: ≤ 0)",
        "conditional",
        "conditional-synthesis",
    ),
    Comparison(
        "3+",
        "conditional-synthesis vs residual",
        "(theory: ≤ 0)",
        "residual",
        "conditional-synthesis",
    ),
]


def seeds(stem: str) -> list[Path]:
    return [
        HERE / f"{stem}_seed{s}.json" for s in SEEDS if (HERE / f"{stem}_seed{s}.json").is_file()
    ]


#: below this shared quality range a BD-rate says little: the row gives BD-metric instead.
WEAK_SHARED_RANGE = 0.25
#: metrics for which lower is better (their BD-metric gain is negative).
LOWER_IS_BETTER = {"rmse", "abs_rel"}


def verdict(r: SeedComparison, claim: int) -> str:
    """The finding's verdict from the seed comparison ``r`` and the paper's direction."""
    if r.verdict.startswith("no seed"):
        return "one seed: no verdict"
    beyond = r.verdict != "within seed spread"  # the library's noise rule, read once
    if claim == 0:
        return "holds (within seed spread)" if not beyond else "does not hold"
    if not beyond:
        return "within seed spread"
    test_better = r.mean < 0  # BD-rate: fewer bits
    if r.measure == "metric":  # BD-metric: a quality gain at equal rate
        test_better = (r.mean < 0) == (r.metric in LOWER_IS_BETTER)
    return "holds" if test_better == (claim < 0) else "does not hold"


def fmt(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.2f}"


def figure(r: SeedComparison) -> tuple[str, str]:
    """The table's BD figure (mean, range, pairs) and the seed spreads, in % or metric units."""
    pairs = f"{len(r.pairs)} pairs" + (f", {r.undefined} undefined" if r.undefined else "")
    if r.measure == "rate":
        value = f"**{r.mean:+.1f} %** ({r.low:+.1f} … {r.high:+.1f}; {pairs})"
        return value, f"±{fmt(r.anchor_spread)} / ±{fmt(r.test_spread)} %"
    value = (
        "BD-rate undefined or weak (shared quality < 25 %, or none for most pairs); "
        f"**BD-{r.metric} {r.mean:+.3f}** at equal rate "
        f"({r.low:+.3f} … {r.high:+.3f}; {pairs})"
    )
    return value, f"±{fmt(r.anchor_spread)} / ±{fmt(r.test_spread)} {r.metric}"


def main() -> int:
    rows, records = [], []
    for c in COMPARISONS:
        anchors, tests = seeds(c.anchor), seeds(c.test)
        if not anchors or not tests:
            rows.append(f"| {c.experiment} | {c.finding} | {c.paper} | not run yet | | | |")
            continue
        curves = [RDResults.load(p) for p in anchors], [RDResults.load(p) for p in tests]
        try:
            r = compare_seeds(*curves, c.metric, rate=c.rate)
            if r.shared < WEAK_SHARED_RANGE or r.undefined > len(r.pairs):
                # a BD-rate of a minority of the seed pairs speaks for none of the arms
                raise ConfigError("too little shared quality range for a BD-rate")
        except ConfigError:  # (almost) no shared quality range: quality at equal rate instead
            try:
                r = compare_seeds(*curves, c.metric, rate=c.rate, measure="metric")
            except ConfigError as error:
                rows.append(
                    f"| {c.experiment} | {c.finding} | {c.paper} | undefined: {error} | | | |"
                )
                continue
        v = verdict(r, c.claim)
        value, spread = figure(r)
        shared = "—" if math.isnan(r.shared) else f"{r.shared:.0%}"
        rows.append(
            f"| {c.experiment} | {c.finding} | {c.paper} | {value} | {spread} | {shared} | {v} |"
        )
        records.append(
            {
                "comparison": c.__dict__,
                "measure": r.measure,
                "bd_rate_mean": r.mean,
                "bd_rate_low": r.low,
                "bd_rate_high": r.high,
                "pairs": list(r.pairs),
                "undefined_pairs": r.undefined,
                "anchor_spread": r.anchor_spread,
                "test_spread": r.test_spread,
                "shared_range": r.shared,
                "verdict": v,
                "anchor_files": [p.name for p in anchors],
                "test_files": [p.name for p in tests],
            }
        )
    reuse = []
    for scalable, standalone, label in (
        ("conditional", "independent", "conditional over the segmentation base"),
        ("conditional", "standalone", "conditional against paper 002's standalone"),
        (
            "conditional-synthesis",
            "independent",
            "conditional-synthesis over the segmentation base",
        ),
        ("residual", "independent", "residual over the segmentation base"),
        # the independent layer ignores its base, so methods.sh's serves the depth base too
        ("conditional_beta0.1", "independent", "conditional over the β = 0.1 depth base"),
        ("conditional_beta0", "independent", "conditional over the β = 0 depth base"),
    ):
        for seed in SEEDS:
            a, b = HERE / f"{scalable}_seed{seed}.json", HERE / f"{standalone}_seed{seed}.json"
            if not (a.is_file() and b.is_file()):
                continue
            try:
                result = analyse(RDResults.load(a), RDResults.load(b))
            except ConfigError as error:
                reuse.append(f"| {label} | {seed} | undefined: {error} | |")
                continue
            lower = result.bd_lower[0].bd_rate if result.bd_lower else math.nan
            none = "undefined (no shared quality range)"
            bd = none if math.isnan(lower) else f"{lower:+.1f} %"
            share = none if math.isnan(result.reuse_mean) else f"{result.reuse_mean:.1%}"
            reuse.append(f"| {label} ({standalone}) | {seed} | {bd} | {share} |")
            records.append(
                {
                    "reuse": label,
                    "standalone": standalone,
                    "seed": seed,
                    "bd_vs_simulcast": lower,
                    "reuse_mean": result.reuse_mean,
                }
            )
    text = [
        "# Findings with variable-rate layers and two or three seeds (ShapesWorld, CPU scale)",
        "",
        "Written by `python results/shapesworld/findings/analyse.py` from the results of",
        "`beta.sh` and `methods.sh`. BD-rate of the test arm against the anchor arm, PCHIP, mean",
        "over every pair of seeds (range in brackets); seed spread: the largest |BD-rate| of an",
        "arm's later seeds against its first (anchor / test). A verdict needs every pair on one",
        "side of zero and the mean beyond both spreads. Where the two arms share no quality",
        "range (under 25 % of it, or none for most seed pairs), the row gives BD-metric",
        "(quality at equal rate) instead.",
        "",
        "| # | finding (test vs anchor) | paper | BD figure, mean (range) | seed spread "
        "| shared range | verdict |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Against simulcast (the independent layer plus the base) and base re-use, per seed",
        "(`hmcodec scalable-analysis`):",
        "",
        "| scalable stream | seed | BD-rate vs simulcast | base rate re-used |",
        "|---|---|---|---|",
        *reuse,
        "",
    ]
    (HERE / "findings.md").write_text("\n".join(text))
    (HERE / "findings.json").write_text(json.dumps(records, indent=2, allow_nan=True) + "\n")
    plots = {
        "beta_base_rd": (["base_beta0.1", "base_beta0"], ["rmse", "psnr_base_direct"]),
        "beta_scalable_rd": (
            ["conditional_beta0.1", "conditional_beta0", "independent"],
            ["psnr-rgb"],
        ),
        "beta_segmentation_rd": (
            ["segmentation_beta0.1", "segmentation_beta0"],
            ["enhancement_miou"],
        ),
        "methods_rd": (
            [
                "conditional",
                "residual",
                "grouped",
                "conditional-synthesis",
                "standalone",
                "independent",
            ],
            ["psnr-rgb"],
        ),
        "auxiliary_rd": (["machine-deep", "auxiliary-deep"], ["miou"]),
        "auxiliary_detection_rd": (["machine-detection", "auxiliary-detection"], ["map"]),
        "auxiliary_detection_start_rd": (
            ["machine-detection", "machine-detection-start", "auxiliary-detection-start"],
            ["map"],
        ),
    }
    for name, (stems, metrics) in plots.items():
        curves = [RDResults.load(p) for stem in stems for p in seeds(stem)]
        if len(curves) >= 2:
            write_report(curves, HERE / name, None, metrics, f"ShapesWorld 64×64: {name}")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
