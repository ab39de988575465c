"""BD-rate/BD-metric through the bjontegaard package, checked against known cases."""

from __future__ import annotations

import bjontegaard
import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from hmcodec.errors import ConfigError
from hmcodec.evaluate.bdrate import METHODS, bd_metric, bd_rate, compare, compare_seeds
from hmcodec.evaluate.results import RDResults

# The example of the bjontegaard README (x265 presets, rates in kbps).
RATE_ANCHOR = [9487.76, 4593.60, 2486.44, 1358.24]
PSNR_ANCHOR = [40.037, 38.615, 36.845, 34.851]
RATE_TEST = [9787.80, 4469.00, 2451.52, 1356.24]
PSNR_TEST = [40.121, 38.651, 36.970, 34.987]
# What the README's example prints with bjontegaard 1.3.0 (the README shows the code, not the
# numbers): BD-rate % and BD-PSNR dB per method.
README_VALUES = {
    "akima": (-4.4252, 0.1194),
    "pchip": (-4.4175, 0.1197),
    "cubic": (-4.4205, 0.1204),
}


def curve(name: str, bpp: list[float], psnr: list[float], key: str = "psnr-rgb") -> RDResults:
    return RDResults(name=name, results={"bpp": list(bpp), key: list(psnr)})


ANCHOR = curve("anchor", RATE_ANCHOR, PSNR_ANCHOR)
TEST = curve("test", RATE_TEST, PSNR_TEST)


@pytest.mark.parametrize("method", METHODS)
def test_readme_example_matches_the_package(method: str) -> None:
    expected_rate, expected_psnr = README_VALUES[method]
    rate, psnr = bd_rate(ANCHOR, TEST, method=method), bd_metric(ANCHOR, TEST, method=method)
    assert rate == pytest.approx(expected_rate, abs=1e-4)
    assert psnr == pytest.approx(expected_psnr, abs=1e-4)
    direct = bjontegaard.bd_rate(RATE_ANCHOR, PSNR_ANCHOR, RATE_TEST, PSNR_TEST, method=method)
    assert rate == pytest.approx(direct, rel=1e-12)


def test_cubic_is_the_vceg_m33_polynomial_and_pchip_the_hermite_spline() -> None:
    """Independent re-computations: np.polyfit (VCEG-M33) and scipy's PCHIP."""
    da, dt = np.array(PSNR_ANCHOR), np.array(PSNR_TEST)
    la, lt = np.log10(RATE_ANCHOR), np.log10(RATE_TEST)
    lo, hi = max(da.min(), dt.min()), min(da.max(), dt.max())
    pa, pt = np.polyint(np.polyfit(da, la, 3)), np.polyint(np.polyfit(dt, lt, 3))
    m33 = (
        (np.polyval(pt, hi) - np.polyval(pt, lo)) - (np.polyval(pa, hi) - np.polyval(pa, lo))
    ) / (hi - lo)
    assert bd_rate(ANCHOR, TEST, method="cubic") == pytest.approx((10**m33 - 1) * 100, rel=1e-9)
    ia, it = PchipInterpolator(da[::-1], la[::-1]), PchipInterpolator(dt[::-1], lt[::-1])
    avg = (it.integrate(lo, hi) - ia.integrate(lo, hi)) / (hi - lo)
    assert bd_rate(ANCHOR, TEST, method="pchip") == pytest.approx((10**avg - 1) * 100, rel=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_swapping_anchor_and_test_flips_the_sign(method: str) -> None:
    forward, backward = bd_rate(ANCHOR, TEST, method=method), bd_rate(TEST, ANCHOR, method=method)
    assert forward < 0 < backward
    assert backward == pytest.approx(-forward, rel=0.1)  # approximately: ±x% is not symmetric
    assert (1 + forward / 100) * (1 + backward / 100) == pytest.approx(1, abs=1e-9)
    assert bd_metric(TEST, ANCHOR, method=method) == pytest.approx(
        -bd_metric(ANCHOR, TEST, method=method)
    )


@pytest.mark.parametrize("method", METHODS)
def test_identical_curves_give_zero(method: str) -> None:
    assert bd_rate(ANCHOR, ANCHOR, method=method) == pytest.approx(0, abs=1e-9)
    assert bd_metric(ANCHOR, ANCHOR, method=method) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_ten_percent_less_rate_everywhere_gives_minus_ten(method: str) -> None:
    bpp = [0.1, 0.25, 0.5, 0.8, 1.2]
    psnr = [27.0, 29.5, 32.0, 34.0, 36.0]
    cheaper = curve("cheaper", [0.9 * b for b in bpp], psnr)
    assert bd_rate(curve("a", bpp, psnr), cheaper, method=method) == pytest.approx(-10, abs=1e-9)


def test_unequal_point_counts_and_compressai_aliases() -> None:
    compressai = curve("compressai", RATE_ANCHOR + [20000.0], PSNR_ANCHOR + [41.5], key="psnr")
    assert np.isfinite(bd_rate(compressai, TEST))


def test_compare_reports_both_methods_and_overlap() -> None:
    results = compare(ANCHOR, TEST)
    assert [r.method for r in results] == ["pchip", "cubic"]
    assert all(r.metric == "psnr-rgb" and 0.9 < r.overlap <= 1 for r in results)


def test_non_overlapping_curves_are_refused() -> None:
    high = curve("high", [0.5, 1, 2, 4], [41.0, 43.0, 45.0, 47.0])
    low = curve("low", [0.5, 1, 2, 4], [21.0, 23.0, 25.0, 27.0])
    with pytest.raises(ConfigError, match="do not overlap"):
        bd_rate(low, high)
    far = curve("far", [10, 20, 40, 80], [21.0, 23.0, 25.0, 27.0])
    with pytest.raises(ConfigError, match="bpp ranges"):
        bd_metric(low, far)


def test_the_cubic_needs_four_points_and_the_piecewise_methods_three() -> None:
    three = curve("three", [0.2, 0.5, 1.0], [28.0, 31.0, 34.0])
    shifted = curve("shifted", [0.18, 0.45, 0.9], [28.0, 31.0, 34.0])
    with pytest.raises(ConfigError, match="at least 4 RD points.*cubic"):
        bd_rate(ANCHOR, three, method="cubic")
    assert bd_rate(three, shifted, method="pchip") == pytest.approx(-10, abs=1e-9)
    pchip, cubic = compare(three, shifted)
    assert pchip.bd_rate == pytest.approx(-10, abs=1e-9)
    assert np.isnan(cubic.bd_rate) and np.isnan(cubic.bd_metric)
    two = curve("two", [0.2, 1.0], [28.0, 34.0])
    with pytest.raises(ConfigError, match="at least 3 RD points"):
        compare(two, three)
    nan_point = curve("nan", RATE_TEST, [PSNR_TEST[0], float("nan"), *PSNR_TEST[2:]])
    with pytest.raises(ConfigError, match="3 usable"):
        bd_rate(ANCHOR, nan_point, method="cubic")


def test_another_rate_axis_is_used_when_named() -> None:
    """``rate="bpp_payload"``: the container's constant bytes leave the comparison."""
    psnr = [27.0, 29.5, 32.0, 34.0]
    payload = [0.1, 0.25, 0.5, 0.8]
    anchor = RDResults(
        name="a", results={"bpp": [b + 0.06 for b in payload], "bpp_payload": payload, "psnr": psnr}
    )
    cheaper = [0.8 * b for b in payload]
    test = RDResults(
        name="t", results={"bpp": [b + 0.06 for b in cheaper], "bpp_payload": cheaper, "psnr": psnr}
    )
    assert bd_rate(anchor, test, rate="bpp_payload") == pytest.approx(-20, abs=1e-9)
    assert -20 < bd_rate(anchor, test) < -10  # the constant container shrinks the difference
    with pytest.raises(ConfigError, match="no 'bpp_estimated'"):
        bd_rate(anchor, test, rate="bpp_estimated")


def test_unknown_method_and_metric_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown BD method"):
        bd_rate(ANCHOR, TEST, method="linear")
    with pytest.raises(ConfigError, match="no 'miou'"):
        bd_rate(ANCHOR, TEST, metric="miou")


def test_bd_metric_alone_undefined_is_nan_in_compare() -> None:
    cheap = curve("cheap", [0.1, 0.2, 0.3, 0.4], [27.0, 29.0, 31.5, 34.0])
    costly = curve("costly", [1.0, 2.0, 3.0, 4.0], [25.0, 28.0, 31.0, 33.0])
    (result,) = compare(cheap, costly, methods=("pchip",))
    assert result.bd_rate > 100 and np.isnan(result.bd_metric)


def test_points_repeated_exactly_count_once() -> None:
    """Two λ that collapsed to the same stream give the same point twice: it counts once, while
    a repeated quality at another rate still makes the curve ambiguous."""
    bpp, psnr = [0.1, 0.25, 0.5, 0.8], [27.0, 29.5, 32.0, 34.0]
    repeated = curve("repeated", [bpp[0], *bpp], [psnr[0], *psnr])
    assert bd_rate(curve("a", bpp, psnr), repeated) == pytest.approx(0, abs=1e-9)
    ambiguous = curve("ambiguous", [0.12, *bpp], [psnr[0], *psnr])
    with pytest.raises(ConfigError, match="repeats"):
        bd_rate(curve("a", bpp, psnr), ambiguous)


def seeds(name: str, scales: list[float]) -> list[RDResults]:
    """One curve per seed: the same PSNRs at the rates of ``base`` times each scale."""
    base = [0.1, 0.2, 0.4, 0.8]
    return [
        curve(f"{name}-{i}", [b * s for b in base], [28, 31, 34, 37]) for i, s in enumerate(scales)
    ]


def test_seed_comparison_means_every_pair_and_measures_each_arms_spread() -> None:
    anchors = seeds("anchor", [1.0, 1.02])
    tests = seeds("test", [0.8, 0.82])
    result = compare_seeds(anchors, tests)
    expected = [100 * (t / a - 1) for a in (1.0, 1.02) for t in (0.8, 0.82)]
    assert np.allclose(result.pairs, expected, atol=1e-6)
    assert result.mean == pytest.approx(np.mean(expected), abs=1e-6)
    assert (result.low, result.high) == pytest.approx((min(expected), max(expected)), abs=1e-6)
    assert result.anchor_spread == pytest.approx(2.0, abs=1e-6)
    assert result.test_spread == pytest.approx(2.5, abs=1e-6)
    assert result.verdict == "test better"


def test_a_difference_inside_the_seed_spread_is_no_verdict() -> None:
    anchors = seeds("anchor", [1.0, 1.10])  # 10 % between the anchor's own seeds
    tests = seeds("test", [0.97, 0.99])
    assert compare_seeds(anchors, tests).verdict == "within seed spread"
    assert compare_seeds(seeds("a", [1.0]), seeds("t", [0.5])).verdict.startswith("no seed")
    assert compare_seeds(seeds("a", [1.0, 1.01]), seeds("t", [1.3, 1.31])).verdict == "test worse"


def test_seed_pairs_without_a_shared_range_are_counted_and_all_undefined_refused() -> None:
    far = curve("far", [1, 2, 4, 8], [50, 51, 52, 53])
    result = compare_seeds(seeds("a", [1.0]), [*seeds("t", [0.9]), far])
    assert result.undefined == 1 and len(result.pairs) == 1
    with pytest.raises(ConfigError, match="no pair of seeds"):
        compare_seeds(seeds("a", [1.0]), [far])
    assert result.test_spread == float("inf")  # the arm's own seeds share no range
    assert result.verdict == "within seed spread"


def test_seed_comparison_at_equal_rate_when_the_quality_ranges_do_not_meet() -> None:
    """Curves a whole decibel apart share no PSNR range (BD-rate undefined); BD-metric over the
    seeds still measures them, in the metric's units."""
    rates = [0.1, 0.2, 0.4, 0.8]
    anchors = [curve(f"a{i}", rates, [20 + i * 0.05 + k * 0.1 for k in range(4)]) for i in (0, 1)]
    tests = [curve(f"t{i}", rates, [22 + i * 0.05 + k * 0.1 for k in range(4)]) for i in (0, 1)]
    with pytest.raises(ConfigError, match="no pair of seeds"):
        compare_seeds(anchors, tests)
    result = compare_seeds(anchors, tests, measure="metric")
    assert result.mean == pytest.approx(2.0, abs=1e-6)
    assert result.anchor_spread == pytest.approx(0.05, abs=1e-6)
    assert result.verdict == "test higher psnr-rgb"
