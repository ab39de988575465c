"""RD-curve figures and the BD-rate markdown table."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmcodec.errors import ConfigError
from hmcodec.evaluate.plot import bd_table, plotted_metrics, write_report
from hmcodec.evaluate.results import RDResults

BPP = [0.1, 0.2, 0.4, 0.8, 1.6]
PSNR = [27.0, 29.0, 31.5, 34.0, 37.0]


def curves() -> list[RDResults]:
    anchor = RDResults(
        "Anchor", results={"bpp": BPP, "psnr-rgb": PSNR, "ms-ssim": [0.9, 0.93, 0.95, 0.97, 0.98]}
    )
    better = RDResults(
        "Better",
        results={
            "bpp": [0.8 * b for b in BPP],
            "psnr-rgb": PSNR,
            "miou": [0.4, 0.5, 0.55, 0.6, 0.62],
        },
    )
    short = RDResults("Short", results={"bpp": BPP[:3], "psnr": PSNR[:3]})  # CompressAI-style key
    return [anchor, better, short]


def test_write_report_writes_png_svg_and_table(tmp_path: Path) -> None:
    paths = write_report(curves(), tmp_path / "out" / "rd", anchor="Anchor", title="test")
    assert [p.name for p in paths] == ["rd.png", "rd.svg", "rd.md"]
    assert all(p.stat().st_size > 100 for p in paths)
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in paths[1].read_text()
    table = paths[2].read_text()
    assert "| Better | -20.00 | -20.00 |" in table
    # 3 points: PCHIP interpolates them (near 0: the anchor's first 3 points), the cubic cannot
    short = next(line for line in table.splitlines() if line.startswith("| Short |"))
    pchip, cubic = short.split(" | ")[1:3]
    assert abs(float(pchip)) < 1 and cubic == "n/a" and "at least 4 RD points" in table


def test_metrics_any_or_all() -> None:
    assert plotted_metrics(curves()) == ["psnr-rgb", "ms-ssim", "miou"]
    assert plotted_metrics(curves(), require_all=True) == ["psnr-rgb"]


def test_table_default_anchor_and_unknown_anchor() -> None:
    table = bd_table(curves()[:2], metrics=["psnr-rgb"], methods=("akima",))
    assert "against **Anchor**" in table and "BD-rate psnr-rgb (akima)" in table
    with pytest.raises(ConfigError, match="anchor 'Nope'"):
        bd_table(curves(), anchor="Nope")
