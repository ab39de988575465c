"""Bjøntegaard-delta rate and metric between two RD curves, through the ``bjontegaard`` package.

Methods (the package's names): ``"pchip"`` — piecewise cubic Hermite interpolation, as in the
JCT-VC/JVET common-test-conditions Excel sheets (the default here); ``"akima"`` — Akima's
piecewise cubic, which the package's authors find the most accurate; ``"cubic"`` — one cubic
polynomial fitted to the points, the original VCEG-M33 method most learned-compression papers
report. BD-rate integrates log10(bpp) over the shared metric range (percent, negative = the
test needs fewer bits); BD-metric integrates the metric over the shared log10(bpp) range.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hmcodec.errors import ConfigError
from hmcodec.evaluate.results import RDResults, canonical_metric

METHODS = ("pchip", "akima", "cubic")
PIECEWISE_METHODS = ("pchip", "akima")
DEFAULT_METHOD = "pchip"
#: points each curve needs: the VCEG-M33 cubic has 4 coefficients; the piecewise methods
#: interpolate 3 or more points (with fewer, :func:`compare` reports the cubic as NaN).
MIN_POINTS = {"pchip": 3, "akima": 3, "cubic": 4}
#: the default rate axis: bits per pixel of the whole stream or file.
RATE = "bpp"


@dataclass(frozen=True)
class BDResult:
    """BD-rate (percent) and BD-metric (metric units) of ``test`` against ``anchor``."""

    anchor: str
    test: str
    metric: str
    method: str
    bd_rate: float
    bd_metric: float
    #: shared part of the two curves' metric ranges, as a fraction of their union.
    overlap: float


def bd_rate(
    anchor: RDResults,
    test: RDResults,
    metric: str = "psnr-rgb",
    method: str = DEFAULT_METHOD,
    rate: str = RATE,
) -> float:
    """Average bitrate difference in percent at equal ``metric`` (negative: test is better).

    ``rate`` names the rate axis: ``bpp`` (whole stream) or another results key such as
    ``bpp_payload`` (the coded layers without the container).
    """
    (ra, da), (rt, dt) = _curves(anchor, test, metric, "metric", _method(method), rate)
    import bjontegaard  # deferred: it imports scipy, which the CLI's start-up does not need

    return _call(bjontegaard.bd_rate, ra, da, rt, dt, method)


def bd_metric(
    anchor: RDResults,
    test: RDResults,
    metric: str = "psnr-rgb",
    method: str = DEFAULT_METHOD,
    rate: str = RATE,
) -> float:
    """Average ``metric`` difference at equal bitrate (BD-PSNR for ``psnr-rgb``)."""
    (ra, da), (rt, dt) = _curves(anchor, test, metric, "rate", _method(method), rate)
    import bjontegaard

    return _call(bjontegaard.bd_psnr, ra, da, rt, dt, method)


def compare(
    anchor: RDResults,
    test: RDResults,
    metric: str = "psnr-rgb",
    methods: Sequence[str] = (DEFAULT_METHOD, "cubic"),
    rate: str = RATE,
) -> list[BDResult]:
    """BD-rate and BD-metric for each method (default: PCHIP and the VCEG-M33 cubic).

    Raises ``ConfigError`` when the first method's BD-rate is undefined; a later method that
    alone cannot run (the cubic with fewer than 4 points) and a BD-metric that alone is
    undefined (bpp ranges apart) are NaN.
    """
    overlap = shared_range(anchor, test, metric, methods[0], rate)
    return [
        BDResult(
            anchor=anchor.name,
            test=test.name,
            metric=canonical_metric(metric),
            method=method,
            bd_rate=_or_nan(bd_rate, anchor, test, metric, method, rate, first=i == 0),
            bd_metric=_or_nan(bd_metric, anchor, test, metric, method, rate, first=False),
            overlap=overlap,
        )
        for i, method in enumerate(methods)
    ]


def shared_range(
    anchor: RDResults,
    test: RDResults,
    metric: str = "psnr-rgb",
    method: str = DEFAULT_METHOD,
    rate: str = RATE,
) -> float:
    """The shared part of the two curves' ``metric`` ranges, as a fraction of their union."""
    (_, da), (_, dt) = _curves(anchor, test, metric, "metric", _method(method), rate)
    shared = min(da.max(), dt.max()) - max(da.min(), dt.min())
    return float(shared / (max(da.max(), dt.max()) - min(da.min(), dt.min())))


def _or_nan(function: Callable[..., float], *args: object, first: bool) -> float:
    """``function(*args)``, or NaN where it is undefined and ``first`` is False."""
    try:
        return function(*args)
    except ConfigError:
        if first:
            raise
        return math.nan


def _method(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(f"unknown BD method {method!r}; choose one of {', '.join(METHODS)}.")
    return method


def first_of_duplicates(rate: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Mask keeping each distinct (rate, quality) point once: models that collapsed to the
    same stream (e.g. two λ giving an empty layer) add no information to a curve."""
    keep = np.ones(len(rate), dtype=bool)
    seen: set[tuple[float, float]] = set()
    for i, point in enumerate(zip(rate.tolist(), quality.tolist(), strict=True)):
        keep[i] = point not in seen
        seen.add(point)
    return keep


def _curve(
    results: RDResults, metric: str, along: str, method: str, rate_key: str = RATE
) -> tuple[np.ndarray, np.ndarray]:
    """(rate, metric) arrays of the usable points, sorted along the integration variable."""
    rate = np.asarray(results.bpp if rate_key == RATE else results.values(rate_key), dtype=float)
    dist = np.asarray(results.values(metric), dtype=float)
    keep = np.isfinite(rate) & np.isfinite(dist) & (rate > 0) & first_of_duplicates(rate, dist)
    rate, dist = rate[keep], dist[keep]
    if len(rate) < MIN_POINTS[method]:
        raise ConfigError(
            f"{method} BD metrics need at least {MIN_POINTS[method]} RD points per curve (the "
            f"cubic polynomial of VCEG-M33 has 4 coefficients), but {results.name!r} has "
            f"{len(rate)} usable {metric} points."
        )
    x = dist if along == "metric" else rate
    if len(np.unique(x)) != len(x):
        what = metric if along == "metric" else rate_key
        raise ConfigError(f"{results.name!r} repeats a {what} value, so its curve is ambiguous.")
    order = np.argsort(x)
    return rate[order], dist[order]


def _curves(
    anchor: RDResults, test: RDResults, metric: str, along: str, method: str, rate: str
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    a, t = _curve(anchor, metric, along, method, rate), _curve(test, metric, along, method, rate)
    index, label = (1, metric) if along == "metric" else (0, rate)
    xa, xt = a[index], t[index]
    if min(xa.max(), xt.max()) <= max(xa.min(), xt.min()):
        raise ConfigError(
            f"the {label} ranges of {anchor.name!r} ({xa.min():.4g}–{xa.max():.4g}) and "
            f"{test.name!r} ({xt.min():.4g}–{xt.max():.4g}) do not overlap, so the BD value "
            "is undefined."
        )
    return a, t


def _call(
    function: Callable[..., float],
    rate_anchor: np.ndarray,
    dist_anchor: np.ndarray,
    rate_test: np.ndarray,
    dist_test: np.ndarray,
    method: str,
) -> float:
    """The package's function with unequal point counts allowed and its overlap warning off."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = function(
            rate_anchor,
            dist_anchor,
            rate_test,
            dist_test,
            method=method,
            require_matching_points=False,
            min_overlap=0,
        )
    return float(value)


@dataclass(frozen=True)
class SeedComparison:
    """BD-rate of several seeds of ``test`` against several seeds of ``anchor``.

    ``pairs`` holds every (anchor seed, test seed) BD-rate that is defined; ``anchor_spread``
    and ``test_spread`` are the largest |BD-rate| of an arm's later seeds against its first
    (NaN with one seed), the noise floor a difference between the arms must clear.
    """

    metric: str
    method: str
    pairs: tuple[float, ...]
    undefined: int
    anchor_spread: float
    test_spread: float
    #: the mean shared metric range of the defined pairs (:func:`shared_range`).
    shared: float = math.nan
    #: ``rate`` (the figures are BD-rates, %) or ``metric`` (BD-metric, metric units).
    measure: str = "rate"

    @property
    def mean(self) -> float:
        return float(np.mean(self.pairs))

    @property
    def low(self) -> float:
        return float(np.min(self.pairs))

    @property
    def high(self) -> float:
        return float(np.max(self.pairs))

    @property
    def spread(self) -> float:
        """The seed-to-seed noise: the larger of the two arms' spreads (NaN if unknown)."""
        spreads = [s for s in (self.anchor_spread, self.test_spread) if not math.isnan(s)]
        return max(spreads) if spreads else math.nan

    @property
    def verdict(self) -> str:
        """``test better`` / ``test worse`` when every pair agrees in sign and the mean clears
        the seed spread; ``within seed spread`` otherwise; ``no seed spread`` with one seed."""
        if math.isnan(self.spread):
            return "no seed spread (one seed per arm)"
        if self.low < 0 < self.high or abs(self.mean) <= self.spread:
            return "within seed spread"
        if self.measure == "metric":  # the sign of a quality gain depends on the metric
            return f"test {'higher' if self.mean > 0 else 'lower'} {self.metric}"
        return "test better" if self.mean < 0 else "test worse"


#: what a seed comparison averages: BD-rate (percent, at equal quality) or BD-metric (metric
#: units at equal rate; for curves whose quality ranges do not overlap but whose rates do).
MEASURES: dict[str, Callable[..., float]] = {"rate": bd_rate, "metric": bd_metric}


def seed_spread(
    curves: Sequence[RDResults],
    metric: str,
    method: str = DEFAULT_METHOD,
    rate: str = RATE,
    measure: str = "rate",
) -> float:
    """The largest |BD-rate| (or |BD-metric|) of ``curves[1:]`` against ``curves[0]`` (seeds of
    one arm); NaN with one curve, infinite where a seed's curve shares no range with the first."""
    values = []
    for other in curves[1:]:
        try:
            values.append(abs(MEASURES[measure](curves[0], other, metric, method, rate)))
        except ConfigError:
            values.append(math.inf)
    return max(values) if values else math.nan


def compare_seeds(
    anchors: Sequence[RDResults],
    tests: Sequence[RDResults],
    metric: str = "psnr-rgb",
    method: str = DEFAULT_METHOD,
    rate: str = RATE,
    measure: str = "rate",
) -> SeedComparison:
    """BD-rate of every test seed against every anchor seed, with each arm's seed spread
    (``measure="metric"``: BD-metric at equal rate instead, its spread in metric units).

    Raises ``ConfigError`` when no pair has a shared range; pairs without one are counted in
    ``undefined``.
    """
    if not anchors or not tests:
        raise ConfigError("give at least one results file per arm.")
    if measure not in MEASURES:
        raise ConfigError(f"unknown BD measure {measure!r}; choose rate or metric.")
    pairs, shared, undefined, reason = [], [], 0, ""
    for anchor in anchors:
        for test in tests:
            try:
                pairs.append(MEASURES[measure](anchor, test, metric, method, rate))
                if measure == "rate":
                    shared.append(shared_range(anchor, test, metric, method, rate))
            except ConfigError as error:
                undefined, reason = undefined + 1, str(error)
    if not pairs:
        raise ConfigError(f"no pair of seeds has a BD-rate: {reason}")
    return SeedComparison(
        metric=canonical_metric(metric),
        method=method,
        pairs=tuple(pairs),
        undefined=undefined,
        anchor_spread=seed_spread(anchors, metric, method, rate, measure),
        test_spread=seed_spread(tests, metric, method, rate, measure),
        shared=float(np.mean(shared)) if shared else math.nan,
        measure=measure,
    )
