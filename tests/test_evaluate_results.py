"""The RD results JSON: round trip, CompressAI's files, refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmcodec.errors import ConfigError
from hmcodec.evaluate.results import RDResults

# The layout of CompressAI's results/image/kodak/*.json (values shortened).
COMPRESSAI_STYLE = {
    "name": "JPEG",
    "description": "JPEG. Pillow version 7.1.2",
    "meta": {"source": "compressai", "dataset": "kodak"},
    "results": {
        "psnr": [23.78, 26.58, 28.04, 29.04],
        "ms-ssim-rgb": [0.803, 0.890, 0.924, 0.943],
        "bpp": [0.221, 0.327, 0.423, 0.508],
        "encoding_time": [0.011, 0.011, 0.012, 0.013],
    },
}


def _example() -> RDResults:
    out = RDResults(name="method", description="test")
    for bpp, q in ((0.8, 80), (0.2, 20), (0.5, 50)):
        out.add_point(
            bpp,
            {"psnr-rgb": 20 + bpp * 10, "ms-ssim": math.nan if q == 20 else 0.9, "miou": q / 100},
            {"command": "hmcodec x", "checkpoint": f"q{q}.pt", "quality": q},
            per_image=[{"image": "a.png", "bpp": bpp}],
        )
    return out


def test_round_trip_sorts_by_bpp_and_keeps_provenance(tmp_path: Path) -> None:
    path = _example().save(tmp_path / "sub" / "method.json")
    raw = json.loads(path.read_text())
    assert raw["results"]["bpp"] == [0.2, 0.5, 0.8]
    assert [p["quality"] for p in raw["provenance"]] == [20, 50, 80]
    assert raw["results"]["ms-ssim"][0] is None  # NaN is written as null
    loaded = RDResults.load(path)
    assert loaded.bpp == [0.2, 0.5, 0.8]
    assert loaded.values("miou") == [0.2, 0.5, 0.8]
    assert math.isnan(loaded.values("ms-ssim")[0])
    assert loaded.per_image == [[{"image": "a.png", "bpp": b}] for b in (0.2, 0.5, 0.8)]
    assert loaded.to_json() == raw


def test_reads_compressai_style_file(tmp_path: Path) -> None:
    path = tmp_path / "jpeg.json"
    path.write_text(json.dumps(COMPRESSAI_STYLE))
    curve = RDResults.load(path)
    assert curve.name == "JPEG" and len(curve) == 4
    assert curve.values("psnr-rgb") == [23.78, 26.58, 28.04, 29.04]
    assert curve.values("ms-ssim")[0] == 0.803
    assert curve.metrics() == ["psnr-rgb", "ms-ssim"]
    assert curve.to_json()["meta"] == COMPRESSAI_STYLE["meta"]


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"description": "", "results": {"bpp": [1.0]}},
        {"name": "x", "results": {"bpp": []}},
        {"name": "x", "results": {"psnr": [30.0]}},
        {"name": "x", "results": {"bpp": [0.1, 0.2], "psnr": [30.0]}},
        {"name": "x", "results": {"bpp": [0.1], "psnr": ["30"]}},
        {"name": "x", "results": {"bpp": [0.1]}, "provenance": [{}, {}]},
    ],
)
def test_malformed_files_are_refused_in_one_sentence(tmp_path: Path, data: object) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        RDResults.load(path)
    message = str(caught.value)
    assert message.endswith(".") and "\n" not in message and str(path) in message


def test_unreadable_and_invalid_json_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        RDResults.load(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        RDResults.load(tmp_path / "broken.json")


def test_missing_metric_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no 'lpips'"):
        _example().values("lpips")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.01, 10, allow_nan=False),
            st.floats(10, 60, allow_nan=False),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_json_round_trip_property(points: list[tuple[float, float]]) -> None:
    curve = RDResults(
        name="p", results={"bpp": [b for b, _ in points], "psnr-rgb": [q for _, q in points]}
    )
    again = RDResults.from_json(json.loads(json.dumps(curve.to_json())))
    assert sorted(zip(again.bpp, again.values("psnr-rgb"), strict=True)) == sorted(points)
    assert again.bpp == sorted(again.bpp)
