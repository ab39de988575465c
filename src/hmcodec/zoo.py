"""Reference models that ship with the package, usable by name without training (issue 13).

In the manner of torchvision's weights API: each model has a weights enum (its entries carry
the file and its measured figures, ``DEFAULT`` names the recommended one) and a builder,
``camvid_segmentation(weights=CamVidSegmentationWeights.DEFAULT)``, that returns the loaded
model, or with ``weights=None`` the same architecture randomly initialised. Wherever a model
path is accepted (``hmcodec encode camvid-segmentation photo.png -o photo.hmc``, ``load_model``)
a reference model's name may stand in for it; ``hmcodec models`` lists them.

The files and ``manifest.json`` in ``hmcodec/weights`` are written by
``results/models/package.py`` from trained runs: the manifest holds each file's SHA-256, its
architecture, the command that trained it and the figures measured on it (with their command).
This module imports no torch, so ``hmcodec models`` answers at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hmcodec.errors import ModelError

if TYPE_CHECKING:
    from hmcodec.checkpoint import LoadedModel

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Weights:
    """One shipped model file and what was measured on it (from the manifest)."""

    name: str
    file: str
    sha256: str
    description: str
    config: dict[str, Any] = field(hash=False)
    meta: dict[str, Any] = field(hash=False)

    @property
    def path(self) -> Path:
        """The file inside the installed package."""
        return weights_folder() / self.file

    def verify(self) -> Path:
        """The file's path, once its SHA-256 matches the manifest's (one sentence otherwise)."""
        path = self.path
        if not path.is_file():
            raise ModelError(
                f"reference model {self.name!r} is listed but its file {path} is missing; "
                "reinstall hmcodec."
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise ModelError(
                f"reference model file {path} does not match its recorded SHA-256; reinstall "
                "hmcodec."
            )
        return path

    def get_model(self) -> LoadedModel:
        """The loaded model (verified file)."""
        from hmcodec.checkpoint import load_model

        return load_model(self.verify())


def weights_folder() -> Path:
    """``hmcodec/weights`` of the installed package: the files and their manifest."""
    return Path(str(resources.files("hmcodec"))) / "weights"


def manifest() -> dict[str, Weights]:
    """The shipped models by name (empty where the package holds none)."""
    return _read_manifest(weights_folder() / MANIFEST)


@cache
def _read_manifest(source: Path) -> dict[str, Weights]:
    if not source.is_file():
        return {}
    entries = json.loads(source.read_text(encoding="utf-8"))
    return {
        entry["name"]: Weights(
            name=entry["name"],
            file=entry["file"],
            sha256=entry["sha256"],
            description=entry["description"],
            config=entry["config"],
            meta={k: v for k, v in entry.items() if k not in _FIELDS},
        )
        for entry in entries["models"]
    }


_FIELDS = {"name", "file", "sha256", "description", "config"}


def names() -> list[str]:
    return sorted(manifest())


def resolve(model: str | os.PathLike[str]) -> Path:
    """``model`` itself if it is a file (or not a reference model's name), else the verified
    shipped file of that name."""
    path = Path(model)
    if path.exists() or str(model) not in manifest():
        return path
    return manifest()[str(model)].verify()


def weights(name: str) -> Weights:
    """The weights entry of a reference model, one sentence for an unknown name."""
    try:
        return manifest()[name]
    except KeyError:
        known = ", ".join(names()) or "none are installed"
        raise ModelError(f"no reference model is called {name!r}; known: {known}.") from None


class WeightsEnum(Enum):
    """Base of the per-model weights enums (torchvision's ``WeightsEnum``): each member's
    value is a manifest name; ``.weights`` is its :class:`Weights`."""

    @property
    def weights(self) -> Weights:
        return weights(str(self.value))

    def get_model(self) -> LoadedModel:
        return self.weights.get_model()


class CamVidSegmentationWeights(WeightsEnum):
    """CamVid segmentation base + variable-rate image layer trained on CamVid and COCO128."""

    CAMVID_COCO128_V1 = "camvid-segmentation"
    DEFAULT = "camvid-segmentation"


class ShapesWorldSegmentationWeights(WeightsEnum):
    """ShapesWorld segmentation base + variable-rate conditional image layer."""

    SHAPESWORLD_V1 = "shapesworld-segmentation"
    DEFAULT = "shapesworld-segmentation"


class ShapesWorldDepthWeights(WeightsEnum):
    """Variable-rate ShapesWorld depth base (β = 0.1) + variable-rate image layer."""

    SHAPESWORLD_V1 = "shapesworld-depth"
    DEFAULT = "shapesworld-depth"


def _builder(enum: type[WeightsEnum]) -> Callable[..., LoadedModel]:
    default = enum["DEFAULT"]

    def build(*, weights: WeightsEnum | None = default) -> LoadedModel:
        if weights is None:  # the architecture alone, randomly initialised
            from hmcodec.checkpoint import prepare
            from hmcodec.codec.scalable import build_codec

            return prepare(build_codec(default.weights.config))
        if not isinstance(weights, enum):
            raise ModelError(f"weights must be a member of {enum.__name__} or None.")
        return weights.get_model()

    return build


camvid_segmentation = _builder(CamVidSegmentationWeights)
camvid_segmentation.__doc__ = "The ``camvid-segmentation`` reference model (or its architecture)."
shapesworld_segmentation = _builder(ShapesWorldSegmentationWeights)
shapesworld_segmentation.__doc__ = "The ``shapesworld-segmentation`` reference model."
shapesworld_depth = _builder(ShapesWorldDepthWeights)
shapesworld_depth.__doc__ = "The ``shapesworld-depth`` reference model."


def table() -> str:
    """The markdown table ``hmcodec models`` prints."""
    rows = ["| name | size | layers | measured | trained by |", "|---|---|---|---|---|"]
    for name in names():
        entry = manifest()[name]
        figures = "; ".join(entry.meta.get("figures", [])) or "—"
        size = f"{entry.meta.get('bytes', 0) / 1e6:.1f} MB"
        rows.append(
            f"| `{name}` | {size} | {entry.description} | {figures} | "
            f"`{entry.meta.get('command', '?')}` |"
        )
    return "\n".join(rows)
