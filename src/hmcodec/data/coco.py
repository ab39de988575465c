"""COCO 2017 through pycocotools: detection boxes and (optionally) VOC-style semantic masks.

Detection follows torchvision's convention: boxes xywh → xyxy (clipped to the image), labels are
the raw COCO ``category_id`` (the 91-id space, ids 1..90 with gaps), crowd annotations are
skipped and degenerate boxes (w ≤ 1 or h ≤ 1) dropped. ``label_names`` is indexed by that id:
"__background__" at 0 and "N/A" at unused ids, as torchvision's COCO weights list them.

Segmentation follows torchvision's ``references/segmentation/coco_utils.py``: only annotations
of the 20 VOC categories (``VOC_CATEGORY_IDS``) are kept (crowd ones included; pixels of other
categories are background 0); each is rasterised by pycocotools, the map takes the VOC index
1..20 of the annotation covering a pixel, and pixels covered by more than one kept annotation
become the ignore index 255.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO

from hmcodec.data.base import SampleDataset, read_rgb, require_dir, require_file
from hmcodec.data.schema import IGNORE_INDEX
from hmcodec.errors import ConfigError

#: COCO category id of each VOC class, in VOC order (index 0 = background), as torchvision.
# fmt: off
VOC_CATEGORY_IDS: list[int] = [
    0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72,
]
# fmt: on
VOC_CLASSES: list[str] = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
]
TARGETS: tuple[str, ...] = ("boxes", "segmentation")
#: torchvision's segmentation reference keeps a training image only if its VOC annotations
#: cover more than this many pixels (sum of their areas).
MIN_SEGMENTATION_AREA = 1000


def load_coco(annotation_file: str | os.PathLike[str]) -> COCO:
    """pycocotools' COCO index of ``annotation_file`` (its progress prints silenced)."""
    path = require_file(annotation_file, "COCO annotation file")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(path))
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"COCO annotation file {str(path)!r} is malformed: {err}.") from err


def valid_box_annotations(anns: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Annotations that give a detection box: not crowd, box wider and taller than 1 pixel."""
    return [a for a in anns if not a.get("iscrowd", 0) and a["bbox"][2] > 1 and a["bbox"][3] > 1]


class CocoDataset(SampleDataset):
    """COCO images with ``targets`` ⊆ {"boxes", "segmentation"} (boxes ⇒ ``boxes`` + ``labels``).

    ``split`` is the image folder (``<root>/<split>``, e.g. "train2017"); ``annotation_file``
    defaults to ``<root>/annotations/instances_<split>.json``. ``filter_empty`` (default: True
    for training splits) keeps only images with a target: with "boxes", at least one valid box
    (non-crowd, w and h > 1); with "segmentation" only, torchvision's rule (VOC-category
    annotations covering more than 1000 pixels in total). Images are in sorted id order.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train2017",
        annotation_file: str | os.PathLike[str] | None = None,
        targets: Sequence[str] = ("boxes",),
        filter_empty: bool | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(transform)
        targets = (targets,) if isinstance(targets, str) else tuple(targets)
        unknown = sorted(set(targets) - set(TARGETS))
        if unknown or not targets:
            raise ConfigError(f"COCO targets must be among {list(TARGETS)}, got {list(targets)}.")
        self.root = require_dir(root, "COCO")
        self.split = split
        self.image_dir = require_dir(self.root / split, f"COCO image ({split!r} split)")
        if annotation_file is None:
            annotation_file = self.root / "annotations" / f"instances_{split}.json"
        self.coco = load_coco(annotation_file)
        self.targets = targets
        if filter_empty is None:
            filter_empty = split.startswith("train")
        self.filter_empty = filter_empty

        categories = self.coco.loadCats(self.coco.getCatIds())
        size = max([c["id"] for c in categories] + [90]) + 1
        names = ["N/A"] * size
        names[0] = "__background__"
        for cat in categories:
            names[cat["id"]] = cat["name"]
        #: names of ``labels`` (index = COCO category id) and of ``segmentation`` values.
        self.box_label_names: list[str] = names
        self.segmentation_label_names: list[str] = list(VOC_CLASSES)
        self.label_names = names if "boxes" in targets else list(VOC_CLASSES)
        self.num_classes = len(self.label_names)

        ids = sorted(self.coco.imgs)
        if filter_empty:
            ids = [i for i in ids if self._has_target(i)]
        self.ids: list[int] = ids

    def _annotations(self, image_id: int) -> list[dict[str, Any]]:
        return self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id, iscrowd=None))

    def _has_target(self, image_id: int) -> bool:
        anns = self._annotations(image_id)
        if "boxes" in self.targets:
            return bool(valid_box_annotations(anns))
        voc = [a for a in anns if a["category_id"] in VOC_CATEGORY_IDS]
        return sum(a["area"] for a in voc) > MIN_SEGMENTATION_AREA

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, index: int) -> Path:
        return self.image_dir / self.coco.imgs[self.ids[index]]["file_name"]

    def boxes(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Detection target of image ``index`` without reading the image: (boxes, labels)."""
        info = self.coco.imgs[self.ids[index]]
        anns = valid_box_annotations(self._annotations(self.ids[index]))
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, info["width"])
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, info["height"])
        labels = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
        return boxes, labels

    def segmentation(self, index: int) -> torch.Tensor:
        """VOC-class map of image ``index`` (int64 H×W, 0 background, 255 overlaps)."""
        image_id = self.ids[index]
        info = self.coco.imgs[image_id]
        target = np.zeros((info["height"], info["width"]), dtype=np.int64)
        count = np.zeros((info["height"], info["width"]), dtype=np.int32)
        for ann in self._annotations(image_id):
            if ann["category_id"] not in VOC_CATEGORY_IDS:
                continue
            mask = self.coco.annToMask(ann).astype(bool)
            voc = VOC_CATEGORY_IDS.index(ann["category_id"])
            np.maximum(target, np.where(mask, voc, 0), out=target)
            count += mask
        target[count > 1] = IGNORE_INDEX
        return torch.from_numpy(target)

    def load(self, index: int) -> dict[str, Any]:
        path = self.image_path(index)
        sample: dict[str, Any] = {"image": read_rgb(path)}
        if "boxes" in self.targets:
            sample["boxes"], sample["labels"] = self.boxes(index)
        if "segmentation" in self.targets:
            sample["segmentation"] = self.segmentation(index)
        sample["meta"] = {"path": str(path), "index": index, "image_id": self.ids[index]}
        return sample
