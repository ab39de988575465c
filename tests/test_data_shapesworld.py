"""ShapesWorld: determinism, schema at several sizes, classes, boxes and occlusion/depth."""

from __future__ import annotations

import pytest
import torch

from hmcodec.data import DATASETS, ShapesWorld, build_dataset, check_sample, collate
from hmcodec.data.shapesworld import MIN_VISIBLE_PIXELS
from hmcodec.errors import ConfigError


def _equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))


def test_same_index_is_identical_and_reproducible_alone() -> None:
    ds = ShapesWorld(num_samples=50, seed=3)
    first = ds[17]
    assert _equal(first, ds[17])
    fresh = ShapesWorld(num_samples=50, seed=3)
    assert _equal(first, fresh[17])  # no state carried over from generating other indices
    assert _equal(ds[-1], ds[49])


def test_seeds_splits_and_indices_differ() -> None:
    a = ShapesWorld(num_samples=10, seed=0)[4]["image"]
    assert not torch.equal(a, ShapesWorld(num_samples=10, seed=1)[4]["image"])
    assert not torch.equal(a, ShapesWorld(num_samples=10, seed=0, split="val")[4]["image"])
    assert not torch.equal(a, ShapesWorld(num_samples=10, seed=0)[5]["image"])


@pytest.mark.parametrize("size", [64, (97, 131), (48, 80), (80, 48)])
def test_schema_dtypes_and_shapes(size: int | tuple[int, int]) -> None:
    h, w = (size, size) if isinstance(size, int) else size
    ds = ShapesWorld(num_samples=8, image_size=size)
    for sample in ds:
        check_sample(sample)
        assert sample["image"].shape == (3, h, w)
        assert sample["segmentation"].shape == (h, w)
        assert sample["depth_mask"].all()
        seg = sample["segmentation"]
        assert int(seg.min()) >= 0 and int(seg.max()) < ds.num_classes
    batch = collate([ds[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, h, w)
    assert batch["depth"].shape == (4, h, w) and batch["depth_mask"].dtype == torch.bool
    assert isinstance(batch["boxes"], list) and len(batch["labels"]) == 4


def test_every_class_appears() -> None:
    ds = ShapesWorld(num_samples=40)
    assert ds.label_names[0] == "background" and ds.num_classes == len(ds.label_names) == 6
    seen_seg: set[int] = set()
    seen_box: set[int] = set()
    for sample in ds:
        seen_seg |= set(sample["segmentation"].unique().tolist())
        seen_box |= set(sample["labels"].tolist())
    assert seen_seg == set(range(6))
    assert seen_box == set(range(1, 6))


@pytest.mark.parametrize("size", [64, (97, 131)])
def test_boxes_match_visible_segmentation(size: int | tuple[int, int]) -> None:
    ds = ShapesWorld(num_samples=30, image_size=size, seed=5)
    h, w = ds.height, ds.width
    for sample in ds:
        seg, boxes, labels = sample["segmentation"], sample["boxes"], sample["labels"]
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
        assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert boxes.dtype == torch.float32 and labels.dtype == torch.int64
        covered = torch.zeros_like(seg, dtype=torch.bool)
        for box, label in zip(boxes.long().tolist(), labels.tolist(), strict=True):
            x1, y1, x2, y2 = box
            inside = seg[y1:y2, x1:x2] == label
            # tight box: every edge row/column holds a visible pixel of the label
            assert inside[0].any() and inside[-1].any()
            assert inside[:, 0].any() and inside[:, -1].any()
            assert int(inside.sum()) >= MIN_VISIBLE_PIXELS
            covered[y1:y2, x1:x2] |= seg[y1:y2, x1:x2] == label
        # only shapes dropped for being (almost) hidden may leave labelled pixels outside boxes
        stray = int(((seg > 0) & ~covered).sum())
        assert stray < MIN_VISIBLE_PIXELS * ds.max_shapes


def test_depth_is_consistent_with_occlusion() -> None:
    ds = ShapesWorld(num_samples=30, image_size=(61, 77), seed=2)
    overlaps = 0
    for i in range(len(ds)):
        sample = ds.generate(i, layers=True)
        seg, depth = sample["segmentation"], sample["depth"]
        background = seg == 0
        assert (depth[background] >= 20).all() and (depth[background] <= 40).all()
        assert (depth[~background] >= 2).all() and (depth[~background] <= 15).all()
        layers = sample["layers"]
        nearest = torch.stack([layer["depth"] for layer in layers]).min(dim=0)
        shown = nearest.values.isfinite()
        assert torch.equal(shown, ~background)  # a pixel is a shape's iff some shape covers it
        assert torch.allclose(depth[shown], nearest.values[shown])  # the visible one is nearest
        classes = torch.tensor([layer["label"] for layer in layers])
        assert torch.equal(seg[shown], classes[nearest.indices[shown]])
        for a in layers:
            for b in layers:
                both = a["mask"] & b["mask"] & (a["depth"] < b["depth"])
                if both.any():  # A covers B there: what is seen is A (or something nearer)
                    overlaps += 1
                    assert (depth[both] <= a["depth"][both]).all()
                    assert (depth[both] < b["depth"][both]).all()
    assert overlaps > 5  # the check above actually ran on occluding pairs


def test_registry_and_errors() -> None:
    assert "shapesworld" in DATASETS
    ds = build_dataset({"name": "shapesworld", "num_samples": 3, "image_size": 32})
    assert len(ds) == 3 and ds[0]["image"].shape == (3, 32, 32)
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(ConfigError, match="split"):
        ShapesWorld(split="training")
    with pytest.raises(ConfigError):
        build_dataset({"name": "no-such-dataset"})
    with pytest.raises(ConfigError):
        build_dataset({"name": "shapesworld", "bogus": 1})
