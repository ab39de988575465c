"""A scalable sweep against its two baselines, and how much of the base rate it re-uses.

Rates are bits per pixel, ``q`` is the quality metric (PSNR-RGB by default):

* **scalable** ``R_s(q)``: the scalable method's curve (``conditional``/``residual``), whose
  ``bpp`` is the whole stream, base layer included;
* **upper baseline** ``R_u(q)``: the ``standalone`` curve, an image codec that ignores the base;
  its ``bpp`` is the enhancement rate alone (``hmcodec eval`` writes it so);
* **base rate** ``R_b``: the base layer the scalable stream carries, per scalable point: the
  ``bpp`` of ``--base`` (``hmcodec eval --layers base`` of the same models: the extracted
  base-only stream, matched to the scalable points by model fingerprint, else by position; a
  single point is used for every scalable point), otherwise the scalable file's ``bpp_base``
  (payload bytes). Along the scalable curve ``R_b(q)`` is interpolated linearly in ``q``;
* **lower baseline** (simulcast) ``R_l(q) = R_u(q) + R_b(q)``: a standalone stream sent beside
  the base layer — the standalone points shifted by the base rate at their quality.

BD-rates (:mod:`.bdrate`) of the scalable curve against each baseline say how far it sits from
them. **Base re-use** at quality ``q`` is the share of the base rate that the scalable stream
saves against simulcast::

    reuse(q) = (R_l(q) − R_s(q)) / R_b(q) = 1 − (R_s(q) − R_u(q)) / R_b(q)

with ``R_s`` and ``R_u`` interpolated linearly in ``q`` between their points: 100 % means the
enhancement layer costs only what the standalone layer does beyond the base (the base rate is
fully re-used), 0 % means scalability saves nothing against simulcast. The report gives its mean
over evenly spaced qualities in the range the three curves share, and its value at each scalable
point inside that range. (The conditional/residual paper reports 40–50 %.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hmcodec.errors import ConfigError
from hmcodec.evaluate.bdrate import BDResult, compare, first_of_duplicates
from hmcodec.evaluate.results import RDResults, canonical_metric

#: evenly spaced qualities over which the mean re-use is taken.
REUSE_SAMPLES = 101


@dataclass
class ReusePoint:
    """The rates at one quality and the re-use there."""

    quality: float
    scalable: float
    standalone: float
    base: float

    @property
    def simulcast(self) -> float:
        return self.standalone + self.base

    @property
    def reuse(self) -> float:
        return (self.simulcast - self.scalable) / self.base if self.base > 0 else math.nan


@dataclass
class ScalableAnalysis:
    """Everything :func:`analyse` finds; :meth:`markdown` renders it."""

    metric: str
    scalable: RDResults
    standalone: RDResults
    simulcast: RDResults
    base_rates: list[float]
    base_source: str
    quality_range: tuple[float, float] | None
    reuse_mean: float
    reuse_points: list[ReusePoint] = field(default_factory=list)
    bd_upper: list[BDResult] = field(default_factory=list)
    bd_lower: list[BDResult] = field(default_factory=list)
    bd_notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """The report: definitions in brief, the BD-rates, the re-use and the curves."""
        m = self.metric
        lines = [
            f"# Scalable-coding analysis ({m})",
            "",
            f"- scalable: **{self.scalable.name}** ({len(self.scalable)} points)",
            f"- upper baseline (standalone, enhancement rate alone): **{self.standalone.name}** "
            f"({len(self.standalone)} points)",
            f"- lower baseline (simulcast = standalone + base rate at the same {m}): "
            f"{len(self.simulcast)} points",
            f"- base rate: {self.base_source}",
            "",
            "## BD-rate of the scalable curve",
            "",
            "| against | BD-rate (PCHIP) | BD-rate (cubic) | BD-metric (PCHIP) | shared range |",
            "|---|---|---|---|---|",
        ]
        for label, results in (
            ("standalone (upper)", self.bd_upper),
            ("simulcast (lower)", self.bd_lower),
        ):
            by_method = {r.method: r for r in results}
            if not results:
                lines.append(f"| {label} | n/a | n/a | n/a | n/a |")
                continue
            pchip, cubic = by_method.get("pchip"), by_method.get("cubic")
            lines.append(
                f"| {label} | {_pct(pchip.bd_rate if pchip else math.nan)} "
                f"| {_pct(cubic.bd_rate if cubic else math.nan)} "
                f"| {_num(pchip.bd_metric if pchip else math.nan, '+.4f')} "
                f"| {results[0].overlap:.0%} |"
            )
        lines += [f"\n{note}" for note in self.bd_notes]
        lines += ["", "## Base re-use", ""]
        if self.quality_range is None:
            lines.append(f"n/a: the scalable and standalone curves share no {m} range.")
        else:
            low, high = self.quality_range
            lines += [
                f"Mean re-use over {m} {low:.4g}–{high:.4g}: **{_share(self.reuse_mean)}** "
                "(reuse = (R_simulcast − R_scalable) / R_base at equal quality).",
                "",
                f"| {m} | R_scalable | R_standalone | R_base | R_simulcast | re-use |",
                "|---|---|---|---|---|---|",
            ]
            for p in self.reuse_points:
                lines.append(
                    f"| {p.quality:.4g} | {p.scalable:.4f} | {p.standalone:.4f} | {p.base:.4f} "
                    f"| {p.simulcast:.4f} | {_share(p.reuse)} |"
                )
        lines += ["", "## Curves", "", f"| curve | bpp | {m} |", "|---|---|---|"]
        for curve in (self.scalable, self.standalone, self.simulcast):
            ordered = curve.sorted()
            for bpp, q in zip(ordered.bpp, ordered.values(m), strict=True):
                lines.append(f"| {curve.name} | {bpp:.4f} | {q:.4g} |")
        return "\n".join(lines) + "\n"


def _pct(value: float) -> str:
    return f"{value:+.2f} %" if math.isfinite(value) else "n/a"


def _share(value: float) -> str:
    return f"{100 * value:.1f} %" if math.isfinite(value) else "n/a"


def _num(value: float, spec: str) -> str:
    return format(value, spec) if math.isfinite(value) else "n/a"


def _curve(results: RDResults, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(quality, rate, original index) of the finite points, sorted by quality."""
    rate = np.asarray(results.bpp, dtype=float)
    quality = np.asarray(results.values(metric), dtype=float)
    index = np.arange(len(rate))
    keep = np.isfinite(rate) & np.isfinite(quality) & first_of_duplicates(rate, quality)
    order = np.argsort(quality[keep], kind="stable")
    quality, rate, index = quality[keep][order], rate[keep][order], index[keep][order]
    if len(quality) < 2:
        raise ConfigError(
            f"{results.name!r} needs at least 2 points with finite bpp and {metric}, "
            f"it has {len(quality)}."
        )
    if len(np.unique(quality)) != len(quality):
        raise ConfigError(f"{results.name!r} repeats a {metric} value, so its curve is ambiguous.")
    return quality, rate, index


def base_rates(scalable: RDResults, base: RDResults | None = None) -> tuple[list[float], str]:
    """The base rate of every scalable point (file order) and a sentence saying where from."""
    if base is None:
        if "bpp_base" not in scalable.results:
            raise ConfigError(
                f"{scalable.name!r} has no 'bpp_base' results; give the base-layer rates with "
                "--base (hmcodec eval --layers base)."
            )
        return list(scalable.results["bpp_base"]), f"'bpp_base' (payload) of {scalable.name!r}"
    if len(base) == 1:
        return [base.bpp[0]] * len(scalable), f"the single point of {base.name!r}"
    prints = [p.get("fingerprint") for p in base.provenance]
    wanted = [p.get("fingerprint") for p in scalable.provenance]
    if wanted and all(w is not None and w in prints for w in wanted):
        rates = [base.bpp[prints.index(w)] for w in wanted]
        return rates, f"{base.name!r}, matched to the scalable points by model fingerprint"
    if len(base) == len(scalable):
        return list(base.bpp), f"{base.name!r}, matched to the scalable points by position"
    raise ConfigError(
        f"cannot match the {len(base)} base points of {base.name!r} to the {len(scalable)} "
        f"scalable points of {scalable.name!r}: the model fingerprints differ and so do the "
        "counts."
    )


def simulcast_curve(
    standalone: RDResults, scalable: RDResults, rates: Sequence[float], metric: str
) -> RDResults:
    """Standalone points shifted by the base rate at their quality (interpolated, clamped)."""
    q_s, _, index = _curve(scalable, metric)
    base_along = np.asarray(rates, dtype=float)[index]
    curve = RDResults(
        f"simulcast ({standalone.name} + base)",
        f"{standalone.name!r} plus the base rate of {scalable.name!r} at the same {metric}.",
    )
    for bpp, q in zip(standalone.bpp, standalone.values(metric), strict=True):
        if math.isfinite(bpp) and math.isfinite(q):
            curve.add_point(bpp + float(np.interp(q, q_s, base_along)), {metric: q})
    return curve


def base_reuse(
    scalable: RDResults,
    standalone: RDResults,
    rates: Sequence[float],
    metric: str = "psnr-rgb",
    samples: int = REUSE_SAMPLES,
) -> tuple[float, list[ReusePoint], tuple[float, float] | None]:
    """Mean re-use over the shared quality range, the re-use at the scalable points in it."""
    q_s, r_s, index = _curve(scalable, metric)
    q_u, r_u, _ = _curve(standalone, metric)
    r_b = np.asarray(rates, dtype=float)[index]
    low, high = max(q_s[0], q_u[0]), min(q_s[-1], q_u[-1])
    if not high > low:
        return math.nan, [], None

    def at(q: float) -> ReusePoint:
        return ReusePoint(
            q,
            float(np.interp(q, q_s, r_s)),
            float(np.interp(q, q_u, r_u)),
            float(np.interp(q, q_s, r_b)),
        )

    grid = [at(float(q)) for q in np.linspace(low, high, samples)]
    values = [p.reuse for p in grid if math.isfinite(p.reuse)]
    mean = float(np.mean(values)) if values else math.nan
    points = [at(float(q)) for q in q_s if low <= q <= high]
    return mean, points, (float(low), float(high))


def analyse(
    scalable: RDResults,
    standalone: RDResults,
    base: RDResults | None = None,
    metric: str = "psnr-rgb",
) -> ScalableAnalysis:
    """BD-rates against both baselines and the base re-use (see the module docstring)."""
    metric = canonical_metric(metric)
    rates, source = base_rates(scalable, base)
    simulcast = simulcast_curve(standalone, scalable, rates, metric)
    mean, points, shared = base_reuse(scalable, standalone, rates, metric)
    analysis = ScalableAnalysis(
        metric, scalable, standalone, simulcast, rates, source, shared, mean, points
    )
    for anchor, target in ((standalone, analysis.bd_upper), (simulcast, analysis.bd_lower)):
        try:
            target.extend(compare(anchor, scalable, metric))
        except ConfigError as error:
            analysis.bd_notes.append(f"BD-rate against {anchor.name!r} is undefined: {error}")
    return analysis


def write_analysis(analysis: ScalableAnalysis, path: str | Path) -> Path:
    """Write the markdown report, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(analysis.markdown())
    return path
