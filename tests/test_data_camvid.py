"""CamVid loader (SegNet layout) on the shared copy: split sizes, ids 0..10, 11 → 255."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hmcodec.data import build_dataset, check_sample, collate
from hmcodec.data.camvid import CAMVID_CLASSES, CamVid
from hmcodec.errors import ConfigError

DATA = Path(
    os.environ.get("HMCODEC_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
ROOT = DATA / "camvid"

pytestmark = pytest.mark.skipif(
    not (ROOT / "train.txt").is_file(), reason=f"CamVid not found at {ROOT} (set HMCODEC_DATA)"
)


@pytest.mark.parametrize(("split", "size"), [("train", 367), ("val", 101), ("test", 233)])
def test_split_sizes_follow_the_lists(split: str, size: int) -> None:
    ds = CamVid(ROOT, split)
    lines = [line for line in (ROOT / f"{split}.txt").read_text().splitlines() if line.strip()]
    assert len(ds) == len(lines) == size
    first_image, first_label = lines[0].split()
    assert ds.pairs[0][0] == ROOT / first_image.removeprefix("/SegNet/CamVid/")
    assert ds.pairs[0][1] == ROOT / first_label.removeprefix("/SegNet/CamVid/")
    assert all(image.is_file() and label.is_file() for image, label in ds.pairs)


def test_labels_map_unlabelled_to_ignore() -> None:
    ds = CamVid(ROOT, "val")
    assert ds.label_names == CAMVID_CLASSES and ds.num_classes == 11
    saw_unlabelled = False
    for index in (0, 50, 100):
        sample = ds[index]
        check_sample(sample)
        assert sample["image"].shape == (3, 360, 480)
        seg = sample["segmentation"]
        assert set(seg.unique().tolist()) <= set(range(11)) | {255}
        raw = torch.from_numpy(np.array(Image.open(ds.pairs[index][1])).astype(np.int64))
        assert torch.equal(seg[raw < 11], raw[raw < 11])  # ids 0..10 unchanged
        assert (seg[raw == 11] == 255).all()
        saw_unlabelled |= bool((raw == 11).any())
        expected = np.array(Image.open(ds.pairs[index][0]).convert("RGB"))
        assert torch.equal((sample["image"] * 255).round().byte().permute(1, 2, 0),
                           torch.from_numpy(expected))  # fmt: skip
    assert saw_unlabelled


def test_builder_with_augmentation_batches() -> None:
    torch.manual_seed(0)
    ds = build_dataset(
        {"name": "camvid", "root": str(ROOT), "split": "test", "downscale": True, "crop": 128,
         "flip": True, "jitter": 0.3}
    )  # fmt: skip
    batch = collate([ds[0], ds[1]])
    assert batch["image"].shape == (2, 3, 128, 128)
    assert batch["segmentation"].shape == (2, 128, 128)
    assert set(batch["segmentation"].unique().tolist()) <= set(range(11)) | {255}


def test_user_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="split 'training'"):
        CamVid(ROOT, "training")
    with pytest.raises(ConfigError, match="nowhere"):
        CamVid(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="train.txt"):
        CamVid(tmp_path, "train")
