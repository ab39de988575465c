"""Verdicts on the papers' findings from seeded campaigns (issue 13; ``docs/reproduction.md``).

A :class:`Campaign` is a results folder with ``<stem>_seed<k>.json`` files (``hmcodec eval``) and
the comparisons to draw from them. Every comparison is ``hmcodec bdrate`` over seeds
(:func:`~hmcodec.evaluate.bdrate.compare_seeds`): the mean BD-rate over every pair of seeds, its
range, each arm's seed spread, and the verdict against the paper's claim: "holds" (beyond the seed
spread, in the paper's direction), "does not hold" (beyond it, the other way) or "within seed
spread". Where two arms share too little quality range the row gives BD-metric (quality at equal
rate). Base re-use against simulcast comes from ``hmcodec scalable-analysis`` per seed.
:func:`write_findings` writes ``findings.md``, ``findings.json`` and the RD plots; comparisons
whose runs have not landed yet are listed as such, so it can run at any point of a campaign.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hmcodec.errors import ConfigError
from hmcodec.evaluate.bdrate import SeedComparison, compare_seeds
from hmcodec.evaluate.plot import write_report
from hmcodec.evaluate.results import RDResults
from hmcodec.evaluate.scalable import analyse

#: below this shared quality range a BD-rate says little: the row gives BD-metric instead.
WEAK_SHARED_RANGE = 0.25
#: metrics for which lower is better (their BD-metric gain is negative).
LOWER_IS_BETTER = {"rmse", "abs_rel"}


@dataclass(frozen=True)
class Comparison:
    """One finding: the ``test`` arm against the ``anchor`` arm (results stems)."""

    experiment: str
    finding: str
    paper: str
    anchor: str
    test: str
    metric: str = "psnr-rgb"
    #: the paper's direction: -1 the test needs fewer bits, +1 more, 0 "about equal".
    claim: int = -1
    rate: str = "bpp"


@dataclass(frozen=True)
class Reuse:
    """A scalable arm against a standalone one (``hmcodec scalable-analysis``), per seed."""

    scalable: str
    standalone: str
    label: str


@dataclass(frozen=True)
class Campaign:
    """A results folder, its comparisons, re-use rows and RD plots (name → (stems, metrics))."""

    folder: Path
    title: str
    command: str
    scripts: str
    comparisons: list[Comparison]
    reuse: list[Reuse] = field(default_factory=list)
    plots: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    plot_title: str = ""
    seeds: tuple[int, ...] = (0, 1, 2)

    def seed_files(self, stem: str) -> list[Path]:
        """The stem's results files of the seeds present (arms may have fewer seeds)."""
        files = (self.folder / f"{stem}_seed{s}.json" for s in self.seeds)
        return [p for p in files if p.is_file()]


#: Experiment 1's reconstruction from the base alone (every campaign's ``beta.sh``).
BASE_RECONSTRUCTION = Comparison(
    "1",
    "β = 0.1 vs β = 0: reconstruction from the base, g_a(ŷ_b)",
    "(motivation)",
    "base_beta0",
    "base_beta0.1",
    "psnr_base_direct",
)
#: Experiment 4 on a deep frozen segmentation model (every campaign's ``auxiliary.sh``).
AUXILIARY_DEEP = Comparison(
    "4",
    "auxiliary branch (α = 0.5, shallow) vs none: base task (mIoU), deep frozen task model",
    "−20.3 % (segmentation)",
    "machine-deep",
    "auxiliary-deep",
    "miou",
)
#: Experiment 3 (conditional/residual paper) and conditional-synthesis, as every campaign's
#: ``methods.sh`` names its arms over one segmentation base.
METHOD_COMPARISONS = [
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
]
SYNTHESIS_COMPARISONS = [
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
METHOD_REUSE = [
    Reuse("conditional", "independent", "conditional over the segmentation base"),
    Reuse("conditional", "standalone", "conditional against paper 002's standalone"),
    Reuse(
        "conditional-synthesis", "independent", "conditional-synthesis over the segmentation base"
    ),
    Reuse("residual", "independent", "residual over the segmentation base"),
]
METHOD_ARMS = [
    "conditional",
    "residual",
    "grouped",
    "conditional-synthesis",
    "standalone",
    "independent",
]


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


def _fmt(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.2f}"


def figure(r: SeedComparison) -> tuple[str, str]:
    """The table's BD figure (mean, range, pairs) and the seed spreads, in % or metric units."""
    pairs = f"{len(r.pairs)} pairs" + (f", {r.undefined} undefined" if r.undefined else "")
    if r.measure == "rate":
        value = f"**{r.mean:+.1f} %** ({r.low:+.1f} … {r.high:+.1f}; {pairs})"
        return value, f"±{_fmt(r.anchor_spread)} / ±{_fmt(r.test_spread)} %"
    value = (
        "BD-rate undefined or weak (shared quality < 25 %, or none for most pairs); "
        f"**BD-{r.metric} {r.mean:+.3f}** at equal rate "
        f"({r.low:+.3f} … {r.high:+.3f}; {pairs})"
    )
    return value, f"±{_fmt(r.anchor_spread)} / ±{_fmt(r.test_spread)} {r.metric}"


def _comparison_row(campaign: Campaign, c: Comparison) -> tuple[str, dict[str, Any] | None]:
    anchors, tests = campaign.seed_files(c.anchor), campaign.seed_files(c.test)
    if not anchors or not tests:
        return f"| {c.experiment} | {c.finding} | {c.paper} | not run yet | | | |", None
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
            return f"| {c.experiment} | {c.finding} | {c.paper} | undefined: {error} | | | |", None
    v = verdict(r, c.claim)
    value, spread = figure(r)
    shared = "—" if math.isnan(r.shared) else f"{r.shared:.0%}"
    record = {
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
    row = f"| {c.experiment} | {c.finding} | {c.paper} | {value} | {spread} | {shared} | {v} |"
    return row, record


def _reuse_rows(campaign: Campaign, records: list[dict[str, Any]]) -> list[str]:
    rows = []
    for item in campaign.reuse:
        for seed in campaign.seeds:
            a = campaign.folder / f"{item.scalable}_seed{seed}.json"
            b = campaign.folder / f"{item.standalone}_seed{seed}.json"
            if not (a.is_file() and b.is_file()):
                continue
            try:
                result = analyse(RDResults.load(a), RDResults.load(b))
            except ConfigError as error:
                rows.append(f"| {item.label} | {seed} | undefined: {error} | |")
                continue
            lower = result.bd_lower[0].bd_rate if result.bd_lower else math.nan
            none = "undefined (no shared quality range)"
            bd = none if math.isnan(lower) else f"{lower:+.1f} %"
            share = none if math.isnan(result.reuse_mean) else f"{result.reuse_mean:.1%}"
            rows.append(f"| {item.label} ({item.standalone}) | {seed} | {bd} | {share} |")
            records.append(
                {
                    "reuse": item.label,
                    "standalone": item.standalone,
                    "seed": seed,
                    "bd_vs_simulcast": lower,
                    "reuse_mean": result.reuse_mean,
                }
            )
    return rows


def write_findings(campaign: Campaign) -> str:
    """Write the campaign's ``findings.md``, ``findings.json`` and RD plots; returns the text."""
    rows, records = [], []
    for c in campaign.comparisons:
        row, record = _comparison_row(campaign, c)
        rows.append(row)
        if record is not None:
            records.append(record)
    reuse = _reuse_rows(campaign, records)
    text = [
        f"# {campaign.title}",
        "",
        f"Written by `{campaign.command}` from the results of",
        f"{campaign.scripts}. BD-rate of the test arm against the anchor arm, PCHIP, mean",
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
    folder = campaign.folder
    (folder / "findings.md").write_text("\n".join(text))
    (folder / "findings.json").write_text(json.dumps(records, indent=2, allow_nan=True) + "\n")
    for name, (stems, metrics) in campaign.plots.items():
        curves = [RDResults.load(p) for stem in stems for p in campaign.seed_files(stem)]
        if len(curves) >= 2:
            write_report(curves, folder / name, None, metrics, f"{campaign.plot_title}: {name}")
    return "\n".join(text)
