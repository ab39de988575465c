"""CamVid road scenes in the SegNet layout: 11 classes, 480×360 (367/101/233 train/val/test)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hmcodec.data.base import (
    SampleDataset,
    check_split,
    read_array,
    read_rgb,
    require_dir,
    require_file,
)
from hmcodec.data.schema import IGNORE_INDEX
from hmcodec.errors import ConfigError

CAMVID_CLASSES: list[str] = [
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
]
SPLITS: tuple[str, ...] = ("train", "val", "test")
_SEGNET_PREFIX = "/SegNet/CamVid/"


class CamVid(SampleDataset):
    """CamVid from the SegNet release: ``<root>/<split>.txt`` lists ``image label`` pairs.

    Label PNGs hold ids 0-10 (``CAMVID_CLASSES``); 11 (Unlabelled) and anything above become the
    ignore index 255. Samples: ``image``, ``segmentation``, ``meta`` = {"path", "index"}.
    """

    label_names: list[str] = CAMVID_CLASSES
    num_classes: int = len(CAMVID_CLASSES)

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(transform)
        check_split(split, SPLITS, "CamVid")
        self.root = require_dir(root, "CamVid")
        self.split = split
        listing = require_file(self.root / f"{split}.txt", "CamVid split list")
        self.pairs: list[tuple[Path, Path]] = []
        for number, line in enumerate(listing.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ConfigError(f"line {number} of {str(listing)!r} is not 'image label'.")
            image, label = (self.root / p.removeprefix(_SEGNET_PREFIX).lstrip("/") for p in parts)
            self.pairs.append((image, label))
        if self.pairs:
            require_file(self.pairs[0][0], "CamVid image")
            require_file(self.pairs[0][1], "CamVid label")
        self.label_names = list(CAMVID_CLASSES)
        self.num_classes = len(CAMVID_CLASSES)
        lut = np.full(256, IGNORE_INDEX, dtype=np.int64)
        lut[: self.num_classes] = np.arange(self.num_classes)
        self._lut = lut

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int) -> dict[str, Any]:
        image_path, label_path = self.pairs[index]
        raw = read_array(label_path)
        if raw.ndim != 2 or raw.dtype != np.uint8:
            raise ConfigError(f"CamVid label {str(label_path)!r} is not an 8-bit grey PNG.")
        return {
            "image": read_rgb(image_path),
            "segmentation": torch.from_numpy(self._lut[raw]),
            "meta": {"path": str(image_path), "index": index},
        }
