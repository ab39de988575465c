"""Cityscapes in the official layout: 19-class segmentation (train ids) and disparity depth.

``root/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` with
``root/gtFine/<split>/<city>/…_gtFine_labelIds.png`` (label ids → the 19 train ids of
cityscapesScripts' ``labels.py``, every other id → 255), ``root/disparity/<split>/<city>/…
_disparity.png`` (uint16 p; disparity d = (p − 1) / 256 for p > 0, invalid where p == 0) and
optionally ``root/camera/<split>/<city>/…_camera.json`` (baseline and fx; otherwise the
defaults 0.209313 m and 2262.52 px). Depth = baseline · fx / d, ``depth_mask`` = valid d > 0.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hmcodec.data.base import SampleDataset, check_split, read_array, read_rgb, require_dir
from hmcodec.data.schema import IGNORE_INDEX
from hmcodec.errors import ConfigError

CITYSCAPES_CLASSES: list[str] = [
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
]

#: label id → train id for the 19 evaluated classes (cityscapesScripts labels.py); rest → 255.
LABEL_TO_TRAIN_ID: dict[int, int] = {
    7: 0,  # road
    8: 1,  # sidewalk
    11: 2,  # building
    12: 3,  # wall
    13: 4,  # fence
    17: 5,  # pole
    19: 6,  # traffic light
    20: 7,  # traffic sign
    21: 8,  # vegetation
    22: 9,  # terrain
    23: 10,  # sky
    24: 11,  # person
    25: 12,  # rider
    26: 13,  # car
    27: 14,  # truck
    28: 15,  # bus
    31: 16,  # train
    32: 17,  # motorcycle
    33: 18,  # bicycle
}

SPLITS: tuple[str, ...] = ("train", "val", "test", "train_extra")
TARGETS: tuple[str, ...] = ("segmentation", "depth")
DEFAULT_BASELINE = 0.209313  # metres
DEFAULT_FOCAL = 2262.52  # pixels

_SUFFIX = "_leftImg8bit.png"


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map a Cityscapes label-id map to train ids 0..18 and 255 (int64)."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.int64)
    for label_id, train_id in LABEL_TO_TRAIN_ID.items():
        lut[label_id] = train_id
    return lut[label_ids.astype(np.uint8, copy=False)]


def disparity_to_depth(
    raw: np.ndarray, baseline: float = DEFAULT_BASELINE, focal: float = DEFAULT_FOCAL
) -> tuple[np.ndarray, np.ndarray]:
    """uint16 disparity PNG values → (depth in metres float32, valid mask bool); depth 0 if not."""
    raw = raw.astype(np.float64)
    disparity = np.where(raw > 0, (raw - 1.0) / 256.0, 0.0)
    valid = disparity > 0
    depth = np.zeros_like(disparity)
    depth[valid] = baseline * focal / disparity[valid]
    return depth.astype(np.float32), valid


class Cityscapes(SampleDataset):
    """Cityscapes fine annotations; ``targets`` ⊆ {"segmentation", "depth"}."""

    label_names: list[str] = CITYSCAPES_CLASSES
    num_classes: int = len(CITYSCAPES_CLASSES)

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        targets: Sequence[str] = ("segmentation",),
        baseline: float = DEFAULT_BASELINE,
        focal: float = DEFAULT_FOCAL,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(transform)
        check_split(split, SPLITS, "Cityscapes")
        targets = (targets,) if isinstance(targets, str) else tuple(targets)
        unknown = sorted(set(targets) - set(TARGETS))
        if unknown:
            raise ConfigError(f"unknown Cityscapes targets {unknown}; known: {list(TARGETS)}.")
        self.root = require_dir(root, "Cityscapes")
        self.split = split
        self.targets = targets
        self.baseline = baseline
        self.focal = focal
        image_dir = require_dir(self.root / "leftImg8bit" / split, "Cityscapes image")
        self.images: list[Path] = sorted(image_dir.glob(f"*/*{_SUFFIX}"))
        if not self.images:
            raise ConfigError(f"Cityscapes image folder {str(image_dir)!r} holds no images.")
        if "segmentation" in targets:
            require_dir(self.root / "gtFine" / split, "Cityscapes gtFine")
        if "depth" in targets:
            require_dir(self.root / "disparity" / split, "Cityscapes disparity")
        self.label_names = list(CITYSCAPES_CLASSES)
        self.num_classes = len(CITYSCAPES_CLASSES)

    def __len__(self) -> int:
        return len(self.images)

    def _companion(self, image: Path, folder: str, suffix: str) -> Path:
        stem = image.name[: -len(_SUFFIX)]
        return self.root / folder / self.split / image.parent.name / f"{stem}_{suffix}"

    def camera(self, index: int) -> tuple[float, float]:
        """(baseline m, focal px) of image ``index``: its camera json if present, else defaults."""
        path = self._companion(self.images[index], "camera", "camera.json")
        if not path.is_file():
            return self.baseline, self.focal
        try:
            cam = json.loads(path.read_text())
            return float(cam["extrinsic"]["baseline"]), float(cam["intrinsic"]["fx"])
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"Cityscapes camera file {str(path)!r} is malformed: {err}.") from err

    def _read_target(self, path: Path, what: str) -> np.ndarray:
        if not path.is_file():
            raise ConfigError(f"Cityscapes {what} file {str(path)!r} does not exist.")
        return read_array(path)

    def load(self, index: int) -> dict[str, Any]:
        image_path = self.images[index]
        sample: dict[str, Any] = {"image": read_rgb(image_path)}
        if "segmentation" in self.targets:
            path = self._companion(image_path, "gtFine", "gtFine_labelIds.png")
            sample["segmentation"] = torch.from_numpy(
                label_ids_to_train_ids(self._read_target(path, "label"))
            )
        if "depth" in self.targets:
            path = self._companion(image_path, "disparity", "disparity.png")
            depth, valid = disparity_to_depth(
                self._read_target(path, "disparity"), *self.camera(index)
            )
            sample["depth"] = torch.from_numpy(depth)
            sample["depth_mask"] = torch.from_numpy(valid)
        sample["meta"] = {"path": str(image_path), "index": index}
        return sample
