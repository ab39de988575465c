"""The findings report (``hmcodec.evaluate.findings``): verdicts against the paper's direction
from seeded curves, rows for arms not run yet, and the files it writes."""

from __future__ import annotations

import json
from pathlib import Path

from hmcodec.evaluate.findings import Campaign, Comparison, write_findings
from hmcodec.evaluate.results import RDResults

BPP, PSNR = [0.1, 0.2, 0.4, 0.8], [27.0, 29.0, 31.5, 34.0]


def _arm(folder: Path, stem: str, scales: tuple[float, ...]) -> None:
    for seed, scale in enumerate(scales):
        results = {"bpp": [x * scale for x in BPP], "psnr-rgb": PSNR}
        RDResults(f"{stem}_seed{seed}", results=results).save(folder / f"{stem}_seed{seed}.json")


def _campaign(folder: Path, *comparisons: Comparison) -> Campaign:
    return Campaign(
        folder=folder,
        title="test campaign",
        command="python analyse.py",
        scripts="`a.sh`",
        comparisons=list(comparisons),
        plots={"rd": (["anchor", "better"], ["psnr-rgb"])},
        plot_title="test",
    )


def test_verdicts_follow_the_papers_direction_and_the_seed_spread(tmp_path: Path) -> None:
    _arm(tmp_path, "anchor", (1.0, 1.01))
    _arm(tmp_path, "better", (0.8, 0.82))  # 18–20 % fewer bits, spreads 1 % and 2.5 %
    _arm(tmp_path, "same", (1.005, 0.99))  # inside the anchor's spread
    text = write_findings(
        _campaign(
            tmp_path,
            Comparison("1", "fewer bits, as claimed", "−20 %", "anchor", "better"),
            Comparison("2", "claimed to cost more", "> 0", "anchor", "better", claim=1),
            Comparison("3", "claimed about equal", "≈ 0", "anchor", "same", claim=0),
            Comparison("4", "one arm missing", "−5 %", "anchor", "missing"),
        )
    )
    rows = {line.split(" | ")[1]: line for line in text.splitlines() if line.startswith("| ")}
    assert rows["fewer bits, as claimed"].endswith("| holds |")
    assert "**-19.4 %**" in rows["fewer bits, as claimed"]  # mean of the four seed pairs
    assert rows["claimed to cost more"].endswith("| does not hold |")
    assert rows["claimed about equal"].endswith("| holds (within seed spread) |")
    assert "not run yet" in rows["one arm missing"]
    records = json.loads((tmp_path / "findings.json").read_text())
    assert [r["verdict"] for r in records] == [
        "holds",
        "does not hold",
        "holds (within seed spread)",
    ]
    assert (tmp_path / "findings.md").read_text() == text
    assert (tmp_path / "rd.png").stat().st_size > 0
