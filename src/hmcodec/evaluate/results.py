"""The rate–distortion results file: one JSON per method per dataset, in CompressAI's layout.

.. code-block:: json

    {"name": "JPEG", "description": "...",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim": [...], "miou": [...],
                 "bpp_estimated": [...]},
     "provenance": [{"command": "...", "checkpoint": "...", "quality": 50}, ...],
     "per_image": [[{"image": "kodim01.png", "bpp": 0.4, ...}, ...], ...]}

Every list under ``results`` (and ``provenance``/``per_image``) has one entry per RD point.
Non-finite values (NaN MS-SSIM of a too-small image, infinite PSNR of a lossless point) are
written as ``null`` and read back as NaN. CompressAI's published files (``"psnr"`` for
``"psnr-rgb"``, ``"ms-ssim-rgb"`` for ``"ms-ssim"``, ``"encoding_time"``, ``"meta"``...) load as
they are; :meth:`RDResults.values` resolves those aliases.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hmcodec.errors import ConfigError

#: canonical metric name → other names used for it in published files (CompressAI).
METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "psnr-rgb": ("psnr",),
    "ms-ssim": ("ms-ssim-rgb",),
}
#: axis labels of the usual metrics.
METRIC_LABELS: dict[str, str] = {
    "psnr-rgb": "PSNR-RGB [dB]",
    "ms-ssim": "MS-SSIM",
    "miou": "mIoU",
    "pixel_accuracy": "pixel accuracy",
}
_KNOWN_TOP_LEVEL = ("name", "description", "results", "provenance", "per_image")


def canonical_metric(key: str) -> str:
    """The canonical name of a metric key (``"psnr"`` → ``"psnr-rgb"``)."""
    for canonical, aliases in METRIC_ALIASES.items():
        if key in aliases:
            return canonical
    return key


def is_quality_metric(key: str) -> bool:
    """Whether a ``results`` key is a quality/task metric rather than a rate or a timing."""
    return not (key.startswith("bpp") or key.endswith("_time"))


@dataclass
class RDResults:
    """The RD points of one method on one dataset; see the module docstring for the JSON."""

    name: str
    description: str = ""
    results: dict[str, list[float]] = field(default_factory=lambda: {"bpp": []})
    provenance: list[dict[str, Any]] = field(default_factory=list)
    per_image: list[list[dict[str, Any]]] | None = None
    #: other top-level keys of a loaded file (e.g. CompressAI's "meta"), written back verbatim.
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.results.get("bpp", []))

    @property
    def bpp(self) -> list[float]:
        return self.results["bpp"]

    def metrics(self) -> list[str]:
        """Canonical names of the quality/task metrics present, in file order."""
        names = [canonical_metric(k) for k in self.results if is_quality_metric(k)]
        return list(dict.fromkeys(names))

    def has(self, metric: str) -> bool:
        return self._key(metric) is not None

    def values(self, metric: str) -> list[float]:
        """The per-point values of ``metric``, resolving aliases (``psnr-rgb`` ↔ ``psnr``)."""
        key = self._key(metric)
        if key is None:
            have = ", ".join(self.metrics()) or "none"
            raise ConfigError(f"{self.name!r} has no {metric!r} results; it has: {have}.")
        return self.results[key]

    def _key(self, metric: str) -> str | None:
        canonical = canonical_metric(metric)
        for key in (metric, canonical, *METRIC_ALIASES.get(canonical, ())):
            if key in self.results:
                return key
        return None

    def add_point(
        self,
        bpp: float,
        metrics: Mapping[str, float],
        provenance: Mapping[str, Any] | None = None,
        per_image: list[dict[str, Any]] | None = None,
    ) -> None:
        """Append one RD point; every point must carry the same metric keys."""
        keys = {"bpp", *metrics}
        if len(self) and keys != set(self.results):
            raise ValueError(f"point keys {sorted(keys)} differ from {sorted(self.results)}")
        if not len(self):
            self.results = {k: [] for k in ("bpp", *metrics)}
        self.results["bpp"].append(float(bpp))
        for key, value in metrics.items():
            self.results[key].append(float(value))
        self.provenance.append(dict(provenance or {}))
        if per_image is not None:
            self.per_image = (self.per_image or []) + [per_image]

    def sorted(self) -> RDResults:
        """A copy with the points in increasing bpp."""
        order = sorted(range(len(self)), key=lambda i: self.bpp[i])
        pick = _picker(order)
        return RDResults(
            name=self.name,
            description=self.description,
            results={k: pick(v) for k, v in self.results.items()},
            provenance=pick(self.provenance) if self.provenance else [],
            per_image=pick(self.per_image) if self.per_image else None,
            extra=dict(self.extra),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object, points sorted by bpp, non-finite numbers as ``null``."""
        ordered = self.sorted()
        data: dict[str, Any] = {
            "name": ordered.name,
            "description": ordered.description,
            "results": {k: [_finite_or_none(x) for x in v] for k, v in ordered.results.items()},
        }
        if ordered.provenance:
            data["provenance"] = _clean(ordered.provenance)
        if ordered.per_image is not None:
            data["per_image"] = _clean(ordered.per_image)
        for key, value in ordered.extra.items():
            data.setdefault(key, value)
        return data

    @classmethod
    def from_json(cls, data: Any, source: str = "results") -> RDResults:
        """Validate and read a results object (ours or CompressAI's); ``ConfigError`` if bad."""

        def refuse(reason: str) -> ConfigError:
            return ConfigError(f"{source} is not an RD results file: {reason}.")

        if not isinstance(data, dict):
            raise refuse(f"the top level is a {type(data).__name__}, not an object")
        name, description = data.get("name"), data.get("description", "")
        if not isinstance(name, str) or not name:
            raise refuse('"name" is missing or not a non-empty string')
        if not isinstance(description, str):
            raise refuse('"description" is not a string')
        results = data.get("results")
        if not isinstance(results, dict):
            raise refuse('"results" is missing or not an object')
        bpp = results.get("bpp")
        if not isinstance(bpp, list) or not bpp:
            raise refuse('"results.bpp" is missing or not a non-empty list')
        n = len(bpp)
        parsed: dict[str, list[float]] = {}
        for key, values in results.items():
            if not isinstance(values, list):
                raise refuse(f'"results.{key}" is not a list')
            if len(values) != n:
                raise refuse(f'"results.{key}" has {len(values)} values but "bpp" has {n}')
            if not all(_is_number_or_null(v) for v in values):
                raise refuse(f'"results.{key}" holds something other than numbers')
            parsed[key] = [math.nan if v is None else float(v) for v in values]
        provenance = data.get("provenance", [])
        if not isinstance(provenance, list) or (provenance and len(provenance) != n):
            raise refuse(f'"provenance" must be a list of {n} entries, one per point')
        if not all(isinstance(p, dict) for p in provenance):
            raise refuse('"provenance" entries must be objects')
        per_image = data.get("per_image")
        if per_image is not None and (not isinstance(per_image, list) or len(per_image) != n):
            raise refuse(f'"per_image" must be a list of {n} entries, one per point')
        extra = {k: v for k, v in data.items() if k not in _KNOWN_TOP_LEVEL}
        return cls(name, description, parsed, list(provenance), per_image, extra)

    def save(self, path: str | Path) -> Path:
        """Write the JSON (points sorted by bpp), creating parent folders."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> RDResults:
        """Read a results JSON (ours or CompressAI's); ``ConfigError`` if missing or malformed."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise ConfigError(f"cannot read results file {path}: {error.strerror}.") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"{path} is not valid JSON ({error.msg}, line {error.lineno})."
            ) from None
        return cls.from_json(data, source=str(path))


def _picker(order: list[int]) -> Callable[[Sequence[Any]], list[Any]]:
    return lambda seq: [seq[i] for i in order]


def _is_number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _clean(value: Any) -> Any:
    """Replace non-finite floats anywhere in nested lists/dicts by ``None``."""
    if isinstance(value, float):
        return _finite_or_none(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
