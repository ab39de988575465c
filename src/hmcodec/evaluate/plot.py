"""RD-curve figures (PNG and SVG) and a markdown table of BD-rates against an anchor."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first

from hmcodec.errors import ConfigError, HmcodecError  # noqa: E402
from hmcodec.evaluate.bdrate import DEFAULT_METHOD, bd_rate  # noqa: E402
from hmcodec.evaluate.results import METRIC_LABELS, RDResults  # noqa: E402


def plotted_metrics(curves: Sequence[RDResults], require_all: bool = False) -> list[str]:
    """Metrics present in any (or, with ``require_all``, every) curve, first-seen order."""
    seen = list(dict.fromkeys(m for c in curves for m in c.metrics()))
    if require_all:
        seen = [m for m in seen if all(c.has(m) for c in curves)]
    return seen


def plot_rd(
    curves: Sequence[RDResults],
    out_prefix: str | Path,
    metrics: Sequence[str] | None = None,
    title: str | None = None,
) -> list[Path]:
    """One panel per metric (bpp on x); writes ``OUT_PREFIX.png`` and ``.svg``, returns them."""
    if not curves:
        raise ConfigError("no results to plot.")
    metrics = list(metrics) if metrics else plotted_metrics(curves)
    if not metrics:
        raise ConfigError("the results hold no quality or task metric to plot.")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 4.0), squeeze=False)
    for axis, metric in zip(axes[0], metrics, strict=True):
        for curve in curves:
            if not curve.has(metric):
                continue
            ordered = curve.sorted()
            axis.plot(ordered.bpp, ordered.values(metric), marker="o", ms=3, label=curve.name)
        axis.set_xlabel("bits per pixel")
        axis.set_ylabel(METRIC_LABELS.get(metric, metric))
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_prefix.with_name(out_prefix.name + suffix) for suffix in (".png", ".svg")]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1], metadata={"Date": None})
    plt.close(fig)
    return paths


def bd_table(
    curves: Sequence[RDResults],
    anchor: str | None = None,
    metrics: Sequence[str] | None = None,
    methods: Sequence[str] = (DEFAULT_METHOD, "cubic"),
) -> str:
    """Markdown table: BD-rate (%) of every curve against ``anchor`` (name; default: first)."""
    if not curves:
        raise ConfigError("no results for a BD-rate table.")
    names = [c.name for c in curves]
    base = curves[0] if anchor is None else next((c for c in curves if c.name == anchor), None)
    if base is None:
        raise ConfigError(f"anchor {anchor!r} is not among the results: {', '.join(names)}.")
    metrics = list(metrics) if metrics else [m for m in plotted_metrics(curves) if base.has(m)]
    header = ["results"] + [f"BD-rate {m} ({method})" for m in metrics for method in methods]
    lines = [
        f"BD-rate in % against **{base.name}** (negative = fewer bits for the same quality).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    notes: list[str] = []
    for curve in curves:
        cells = [curve.name]
        for metric in metrics:
            for method in methods:
                cells.append(_cell(base, curve, metric, method, notes))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {note}" for note in dict.fromkeys(notes)]
    return "\n".join(lines).rstrip() + "\n"


def _cell(base: RDResults, curve: RDResults, metric: str, method: str, notes: list[str]) -> str:
    if curve is base:
        return "anchor"
    if not curve.has(metric):
        return "–"
    try:
        value = bd_rate(base, curve, metric, method)
    except HmcodecError as error:
        notes.append(f"{curve.name}, {metric}: {error}")
        return "n/a"
    return f"{value:+.2f}"


def write_report(
    curves: Sequence[RDResults],
    out_prefix: str | Path,
    anchor: str | None = None,
    metrics: Sequence[str] | None = None,
    title: str | None = None,
) -> list[Path]:
    """``OUT_PREFIX.png``, ``.svg`` (RD curves) and ``.md`` (BD-rate table)."""
    paths = plot_rd(curves, out_prefix, metrics, title)
    table = Path(str(out_prefix) + ".md")
    table.write_text(bd_table(curves, anchor, metrics))
    return [*paths, table]
