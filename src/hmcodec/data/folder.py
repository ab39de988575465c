"""Reconstruction-only datasets: any folder of images, and the Kodak suite."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hmcodec.data.base import SampleDataset, default_data_root, read_rgb, require_dir
from hmcodec.errors import ConfigError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
)


class ImageFolder(SampleDataset):
    """Every image file directly in ``root`` (or below it with ``recursive``), sorted by path.

    Samples have only ``image`` and ``meta`` = {"path", "index"}: for rate-distortion of the
    reconstruction (the human-viewing side).
    """

    label_names: list[str] = []
    num_classes: int = 0

    def __init__(
        self,
        root: str | os.PathLike[str],
        recursive: bool = False,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(transform)
        self.root = require_dir(root, "image")
        candidates = self.root.rglob("*") if recursive else self.root.iterdir()
        self.paths: list[Path] = sorted(
            p for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not self.paths:
            raise ConfigError(f"image folder {str(self.root)!r} holds no images.")
        self.label_names = []
        self.num_classes = 0

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        return {"image": read_rgb(path), "meta": {"path": str(path), "index": index}}


class Kodak(ImageFolder):
    """The 24-image Kodak suite (768×512, six portrait); ``root`` defaults to the shared copy."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(default_data_root() / "kodak" if root is None else root, False, transform)
