"""Cityscapes loader on a tiny tree in the official layout: train-id mapping and depth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hmcodec.data import build_dataset, check_sample, collate
from hmcodec.data.cityscapes import (
    CITYSCAPES_CLASSES,
    DEFAULT_BASELINE,
    DEFAULT_FOCAL,
    Cityscapes,
)
from hmcodec.errors import ConfigError

H, W = 6, 40

# (label id, train id) of cityscapesScripts' labels.py for every id 0..33.
TABLE = {
    0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255, 7: 0, 8: 1, 9: 255, 10: 255,
    11: 2, 12: 3, 13: 4, 14: 255, 15: 255, 16: 255, 17: 5, 18: 255, 19: 6, 20: 7, 21: 8,
    22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 29: 255, 30: 255, 31: 16,
    32: 17, 33: 18,
}  # fmt: skip

FRAMES = {
    "train": [
        ("aachen", "000000_000019"),
        ("aachen", "000001_000019"),
        ("bochum", "000000_000313"),
    ],
    "val": [("frankfurt", "000000_000294")],
}


def _label_ids() -> np.ndarray:
    ids = np.zeros((H, W), dtype=np.uint8)
    ids[:, :34] = np.arange(34, dtype=np.uint8)  # every label id in one row each
    ids[:, 34:] = 255  # out-of-table values also map to 255
    return ids


def _disparity() -> np.ndarray:
    raw = np.zeros((H, W), dtype=np.uint16)
    raw[0] = 0  # invalid
    raw[1] = 1  # disparity 0: invalid (infinitely far)
    raw[2] = 257  # d = 1 px
    raw[3] = 2561  # d = 10 px
    raw[4] = np.arange(W, dtype=np.uint16) * 1000 + 1
    raw[5] = 65535
    return raw


@pytest.fixture
def root(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, frames in FRAMES.items():
        for city, frame in frames:
            stem = f"{city}_{frame}"
            for folder, suffix, array in [
                ("leftImg8bit", "leftImg8bit", rng.integers(0, 256, (H, W, 3), dtype=np.uint8)),
                ("gtFine", "gtFine_labelIds", _label_ids()),
                ("gtFine", "gtFine_color", np.zeros((H, W, 3), dtype=np.uint8)),
                ("disparity", "disparity", _disparity()),
            ]:
                path = tmp_path / folder / split / city / f"{stem}_{suffix}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(path)
    camera = tmp_path / "camera" / "train" / "bochum" / "bochum_000000_000313_camera.json"
    camera.parent.mkdir(parents=True)
    camera.write_text(json.dumps({"extrinsic": {"baseline": 0.2}, "intrinsic": {"fx": 2000.0}}))
    return tmp_path


def test_finds_images_sorted_per_split(root: Path) -> None:
    ds = Cityscapes(root, "train")
    assert [p.name[:20] for p in ds.images] == [f"{c}_{f}" for c, f in FRAMES["train"]]
    assert len(Cityscapes(root, "val")) == 1
    assert ds.label_names == CITYSCAPES_CLASSES and ds.num_classes == 19


def test_label_ids_map_to_train_ids(root: Path) -> None:
    sample = Cityscapes(root, "train")[0]
    check_sample(sample)
    seg = sample["segmentation"]
    assert seg.shape == (H, W) and seg.dtype == torch.int64
    for label_id, train_id in TABLE.items():
        assert (seg[:, label_id] == train_id).all(), (label_id, train_id)
    assert (seg[:, 34:] == 255).all()
    assert sorted(set(TABLE.values()) - {255}) == list(range(19))
    assert "depth" not in sample


def test_disparity_to_depth_with_default_and_json_camera(root: Path) -> None:
    ds = build_dataset(
        {"name": "cityscapes", "root": root, "split": "train", "targets": ["segmentation", "depth"]}
    )
    raw = _disparity().astype(np.float64)
    for index, (baseline, focal) in [(0, (DEFAULT_BASELINE, DEFAULT_FOCAL)), (2, (0.2, 2000.0))]:
        sample = ds[index]
        check_sample(sample)
        depth, mask = sample["depth"], sample["depth_mask"]
        assert depth.dtype == torch.float32 and mask.dtype == torch.bool
        assert not mask[0].any() and not mask[1].any()  # p == 0 and p == 1 (d = 0) are invalid
        assert (depth[~mask] == 0).all()
        with np.errstate(divide="ignore"):
            expected = baseline * focal / ((raw - 1) / 256)
        assert torch.allclose(depth[2], torch.full((W,), baseline * focal), rtol=1e-6)
        assert torch.allclose(depth[3], torch.full((W,), baseline * focal / 10), rtol=1e-6)
        valid = torch.from_numpy(raw > 1)
        assert torch.equal(mask, valid)
        got = depth[valid].double()
        assert torch.allclose(got, torch.from_numpy(expected)[valid], rtol=1e-6)


def test_augmentation_keeps_depth_and_labels_aligned(root: Path) -> None:
    ds = build_dataset(
        {"name": "cityscapes", "root": root, "targets": ["segmentation", "depth"], "flip": 1.0,
         "pad_multiple": 16}
    )  # fmt: skip
    plain = Cityscapes(root, targets=("segmentation", "depth"))
    batch = collate([ds[0], ds[1]])
    assert batch["image"].shape == (2, 3, 16, 48)
    flipped, original = ds[0], plain[0]
    assert torch.equal(flipped["segmentation"][:H, :W], original["segmentation"].flip(-1))
    assert torch.equal(flipped["depth"][:H, :W], original["depth"].flip(-1))
    assert not flipped["depth_mask"][H:].any() and (flipped["segmentation"][:, W:] == 255).all()


def test_user_errors_name_the_path(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="split 'training'"):
        Cityscapes(root, "training")
    with pytest.raises(ConfigError, match="leftImg8bit"):
        Cityscapes(root, "test")  # split not present in this tree
    with pytest.raises(ConfigError, match="nowhere"):
        Cityscapes(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="targets"):
        Cityscapes(root, targets=("instances",))
    (root / "gtFine" / "val" / "frankfurt" / "frankfurt_000000_000294_gtFine_labelIds.png").unlink()
    with pytest.raises(ConfigError, match="frankfurt_000000_000294_gtFine_labelIds.png"):
        Cityscapes(root, "val")[0]
    camera = root / "camera" / "train" / "bochum" / "bochum_000000_000313_camera.json"
    camera.write_text("{}")
    with pytest.raises(ConfigError, match="camera"):
        Cityscapes(root, targets=("depth",))[2]
