"""COCO loader on the COCO128 subset, checked against pycocotools' own reading of the json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO

from hmcodec.data import build_dataset, check_sample
from hmcodec.data.coco import VOC_CATEGORY_IDS, CocoDataset
from hmcodec.errors import ConfigError

DATA = Path(
    os.environ.get("HMCODEC_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
ROOT = DATA / "coco128"
ANNOTATIONS = ROOT / "annotations" / "instances_train2017.json"

pytestmark = pytest.mark.skipif(
    not ANNOTATIONS.is_file(), reason=f"COCO128 not found at {ROOT} (set HMCODEC_DATA)"
)


@pytest.fixture(scope="module")
def coco() -> COCO:
    return COCO(str(ANNOTATIONS))


@pytest.fixture(scope="module")
def dataset() -> CocoDataset:
    return build_dataset({"name": "coco", "root": ROOT, "split": "train2017"})


def _expected(coco: COCO, image_id: int) -> list[dict]:
    """The documented filtering, written out independently: no crowd, w > 1 and h > 1."""
    anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=None))
    return [a for a in anns if a["iscrowd"] == 0 and a["bbox"][2] > 1 and a["bbox"][3] > 1]


def test_kept_images_and_box_counts_match_pycocotools(coco: COCO, dataset: CocoDataset) -> None:
    expected_ids = [i for i in sorted(coco.imgs) if _expected(coco, i)]
    assert dataset.ids == expected_ids
    assert len(dataset) == len(expected_ids) < len(coco.imgs) == 128  # 2 have no objects
    total = 0
    for index, image_id in enumerate(dataset.ids):
        boxes, labels = dataset.boxes(index)
        anns = _expected(coco, image_id)
        assert len(boxes) == len(labels) == len(anns)
        assert labels.tolist() == [a["category_id"] for a in anns]
        total += len(boxes)
    crowd = len(coco.getAnnIds(iscrowd=True))
    assert total == len(coco.getAnnIds()) - crowd  # COCO128 has no degenerate boxes


def test_samples_follow_schema_and_xyxy(coco: COCO, dataset: CocoDataset) -> None:
    for index in (0, 7, len(dataset) - 1):
        sample = dataset[index]
        check_sample(sample)
        info = coco.imgs[sample["meta"]["image_id"]]
        assert sample["image"].shape == (3, info["height"], info["width"])
        assert Path(sample["meta"]["path"]).name == info["file_name"]
        anns = _expected(coco, info["id"])
        x, y, w, h = anns[0]["bbox"]
        assert torch.allclose(sample["boxes"][0], torch.tensor([x, y, x + w, y + h]))
        assert (sample["boxes"][:, 2] <= info["width"]).all()
        assert (sample["boxes"][:, 3] <= info["height"]).all()


def test_label_names_are_the_91_id_space(coco: COCO, dataset: CocoDataset) -> None:
    assert dataset.num_classes == len(dataset.label_names) == 91
    assert dataset.label_names[0] == "__background__"
    for cat in coco.loadCats(coco.getCatIds()):
        assert dataset.label_names[cat["id"]] == cat["name"]
    assert dataset.label_names[12] == "N/A"  # an id COCO 2017 leaves unused
    assert dataset.label_names[1] == "person"


def test_filter_empty_off_keeps_every_image() -> None:
    ds = CocoDataset(ROOT, "train2017", filter_empty=False)
    assert len(ds) == 128
    empty = [i for i in range(len(ds)) if len(ds.boxes(i)[0]) == 0]
    assert len(empty) == 2


def test_voc_segmentation_follows_torchvision(coco: COCO) -> None:
    ds = CocoDataset(ROOT, targets=("boxes", "segmentation"), filter_empty=False)
    assert ds.segmentation_label_names[15] == "person" and len(ds.segmentation_label_names) == 21
    checked = 0
    for index in range(0, len(ds), 8):  # every 8th image keeps the test light
        image_id = ds.ids[index]
        seg = ds.segmentation(index).numpy()
        info = coco.imgs[image_id]
        assert seg.shape == (info["height"], info["width"]) and seg.dtype == np.int64
        assert set(np.unique(seg).tolist()) <= set(range(21)) | {255}
        anns = [
            a
            for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=None))
            if a["category_id"] in VOC_CATEGORY_IDS
        ]
        masks = [coco.annToMask(a).astype(bool) for a in anns]
        count = np.sum(masks, axis=0) if masks else np.zeros_like(seg)
        assert (seg[count > 1] == 255).all()  # overlapping instances are ignored
        assert (seg[count == 0] == 0).all()  # other categories and no object: background
        for ann, mask in zip(anns, masks, strict=True):
            alone = mask & (count == 1)
            assert (seg[alone] == VOC_CATEGORY_IDS.index(ann["category_id"])).all()
        checked += len(anns)
    assert checked > 20


def test_segmentation_only_uses_torchvision_area_filter(coco: COCO) -> None:
    ds = build_dataset({"name": "coco", "root": ROOT, "targets": ["segmentation"]})
    assert ds.label_names[0] == "background" and ds.num_classes == 21
    for image_id in coco.imgs:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=None))
        area = sum(a["area"] for a in anns if a["category_id"] in VOC_CATEGORY_IDS)
        assert (image_id in ds.ids) == (area > 1000)
    sample = ds[0]
    check_sample(sample)
    assert "boxes" not in sample


def test_augmented_boxes_stay_inside() -> None:
    torch.manual_seed(0)
    ds = build_dataset({"name": "coco", "root": ROOT, "crop": 256, "flip": True, "downscale": True})
    for index in range(4):
        sample = ds[index]
        check_sample(sample)
        assert sample["image"].shape == (3, 256, 256)
        boxes = sample["boxes"]
        assert (boxes >= 0).all() and (boxes <= 256).all()
        assert ((boxes[:, 2:] - boxes[:, :2]) >= 1).all()


def test_user_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        CocoDataset(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="val2017"):
        CocoDataset(ROOT, split="val2017")
    (tmp_path / "train2017").mkdir()
    with pytest.raises(ConfigError, match="instances_train2017.json"):
        CocoDataset(tmp_path, split="train2017")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": "nope"}))
    with pytest.raises(ConfigError, match="bad.json"):
        CocoDataset(tmp_path, annotation_file=bad)
    with pytest.raises(ConfigError, match="targets"):
        CocoDataset(ROOT, targets=("masks",))
