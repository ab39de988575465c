"""The benchmark's results: per-coder rows, their JSON and the markdown tables."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class BenchRow:
    """Per-image medians of one coder, its memory and its rates."""

    name: str
    family: str
    layer: str
    entropy: str
    latent_channels: int
    reference_channels: int | None = None
    images: list[str] = field(default_factory=list)
    pixels: list[int] = field(default_factory=list)
    encode_s: list[float] = field(default_factory=list)
    decode_s: list[float] = field(default_factory=list)
    encode_cpu_s: list[float] = field(default_factory=list)
    decode_cpu_s: list[float] = field(default_factory=list)
    measured_bits: list[float] = field(default_factory=list)
    estimated_bits: list[float] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def encode_ms(self) -> float:
        return 1000 * statistics.fmean(self.encode_s)

    @property
    def decode_ms(self) -> float:
        return 1000 * statistics.fmean(self.decode_s)

    @property
    def encode_cpu_ms(self) -> float:
        return 1000 * statistics.fmean(self.encode_cpu_s)

    @property
    def decode_cpu_ms(self) -> float:
        return 1000 * statistics.fmean(self.decode_cpu_s)

    @property
    def encode_mpix_s(self) -> float:
        return sum(self.pixels) / 1e6 / sum(self.encode_s)

    @property
    def decode_mpix_s(self) -> float:
        return sum(self.pixels) / 1e6 / sum(self.decode_s)

    @property
    def rate_gap_pct(self) -> float:
        """(measured − estimated) / estimated over all images, in percent (NaN if no estimate)."""
        estimated = sum(self.estimated_bits)
        if estimated <= 0:
            return math.nan
        return 100 * (sum(self.measured_bits) - estimated) / estimated

    @property
    def bpp(self) -> float:
        return sum(self.measured_bits) / sum(self.pixels)

    @property
    def bpp_estimated(self) -> float:
        return sum(self.estimated_bits) / sum(self.pixels)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "layer": self.layer,
            "entropy": self.entropy,
            "latent_channels": self.latent_channels,
            "encode_ms": self.encode_ms,
            "decode_ms": self.decode_ms,
            "encode_cpu_ms": self.encode_cpu_ms,
            "decode_cpu_ms": self.decode_cpu_ms,
            "encode_mpix_s": self.encode_mpix_s,
            "decode_mpix_s": self.decode_mpix_s,
            "peak_memory": self.memory,
            "bpp": self.bpp,
            "bpp_estimated": self.bpp_estimated,
            "rate_gap_pct": _json_float(self.rate_gap_pct),
            "ratios": self.ratios,
            "per_image": [
                {
                    "image": i,
                    "pixels": p,
                    "encode_s": e,
                    "decode_s": d,
                    "encode_cpu_s": ec,
                    "decode_cpu_s": dc,
                    "bits": b,
                    "est_bits": s,
                }
                for i, p, e, d, ec, dc, b, s in zip(
                    self.images,
                    self.pixels,
                    self.encode_s,
                    self.decode_s,
                    self.encode_cpu_s,
                    self.decode_cpu_s,
                    self.measured_bits,
                    self.estimated_bits,
                    strict=True,
                )
            ],
        }


@dataclass
class BenchResult:
    """All rows of one benchmark run and how it was run."""

    rows: list[BenchRow]
    meta: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "rows": [r.to_json() for r in self.rows]}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_clean(self.to_json()), indent=2, allow_nan=False) + "\n")
        return path

    def markdown(self) -> str:
        """Speed and memory, ratios against CompressAI, and the rate gap, as markdown tables."""
        lines = [
            "| coder | layer | entropy model | C | enc ms | dec ms | enc CPU ms | dec CPU ms "
            "| enc MPix/s | dec MPix/s | peak RSS MiB enc / dec | Python peak MiB enc / dec |",
            "|" + "---|" * 12,
        ]
        for r in self.rows:
            mem = r.memory
            lines.append(
                f"| {r.name} | {r.layer} | {r.entropy} | {r.latent_channels} "
                f"| {r.encode_ms:.1f} | {r.decode_ms:.1f} "
                f"| {r.encode_cpu_ms:.1f} | {r.decode_cpu_ms:.1f} "
                f"| {r.encode_mpix_s:.3f} | {r.decode_mpix_s:.3f} "
                f"| {mem.get('encode_rss_mib', math.nan):.1f} / "
                f"{mem.get('decode_rss_mib', math.nan):.1f} "
                f"| {mem.get('encode_python_mib', math.nan):.2f} / "
                f"{mem.get('decode_python_mib', math.nan):.2f} |"
            )
        compared = [r for r in self.rows if r.ratios]
        if compared:
            lines += [
                "",
                "hmcodec time / CompressAI time at the same latent width (C = M):",
                "",
                "| coder | against | enc (wall) | dec (wall) | enc (CPU) | dec (CPU) |",
                "|---|---|---|---|---|---|",
            ]
            for r in compared:
                for kind, ratio in r.ratios.items():
                    lines.append(
                        f"| {r.name} | {kind} M={r.reference_channels} "
                        f"| {ratio['encode']:.2f} | {ratio['decode']:.2f} "
                        f"| {ratio['encode_cpu']:.2f} | {ratio['decode_cpu']:.2f} |"
                    )
        lines += [
            "",
            "| coder | measured bpp (payload) | estimated bpp | rate gap |",
            "|---|---|---|---|",
        ]
        for r in self.rows:
            gap = r.rate_gap_pct
            gap_text = f"{gap:+.2f} %" if math.isfinite(gap) else "n/a"
            lines.append(f"| {r.name} | {r.bpp:.4f} | {r.bpp_estimated:.4f} | {gap_text} |")
        return "\n".join(lines) + "\n"


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
