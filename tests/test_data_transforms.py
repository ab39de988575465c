"""Transforms keep image and every target aligned (flip, crop, downscale, pad, jitter)."""

from __future__ import annotations

import pytest
import torch

from hmcodec.data import build_dataset, check_sample, collate
from hmcodec.data.shapesworld import ShapesWorld
from hmcodec.data.transforms import (
    ColorJitter,
    Compose,
    PadToMultiple,
    RandomCrop,
    RandomHorizontalFlip,
    build_transforms,
    crop,
    downscale,
    hflip,
    pad_to_multiple,
)
from hmcodec.errors import ConfigError

MAP_KEYS = ("segmentation", "depth", "depth_mask")


@pytest.fixture(scope="module")
def samples() -> list[dict]:
    return [ShapesWorld(num_samples=6, image_size=(61, 77), seed=9)[i] for i in range(6)]


def _same(a: dict, b: dict) -> None:
    for key in ("image", *MAP_KEYS, "boxes", "labels"):
        assert torch.equal(a[key], b[key]), key


def _boxes_fit_segmentation(sample: dict) -> None:
    h, w = sample["segmentation"].shape
    for box, label in zip(sample["boxes"].tolist(), sample["labels"].tolist(), strict=True):
        x1, y1, x2, y2 = box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        region = sample["segmentation"][int(y1) : int(y2), int(x1) : int(x2)]
        assert (region == label).any()


def test_flip_twice_is_identity_and_mirrors_boxes(samples: list[dict]) -> None:
    for sample in samples:
        flipped = hflip(sample)
        check_sample(flipped)
        _same(hflip(flipped), sample)
        assert torch.equal(flipped["segmentation"][:, 0], sample["segmentation"][:, -1])
        _boxes_fit_segmentation(flipped)
        w = sample["image"].shape[-1]
        assert torch.equal(flipped["boxes"][:, 0], w - sample["boxes"][:, 2])
        # the box of a flipped shape is the box of its mirrored pixels: still tight
        boxes, labels = flipped["boxes"].long().tolist(), flipped["labels"].tolist()
        for box, label in zip(boxes, labels, strict=True):
            region = flipped["segmentation"][box[1] : box[3], box[0] : box[2]] == label
            assert region[:, 0].any() and region[:, -1].any()


def test_random_flip_is_seeded_by_torch(samples: list[dict]) -> None:
    flip = RandomHorizontalFlip(0.5)
    torch.manual_seed(0)
    first = [flip(s)["image"] for s in samples]
    torch.manual_seed(0)
    second = [flip(s)["image"] for s in samples]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert RandomHorizontalFlip(1.0)(samples[0])["image"].equal(hflip(samples[0])["image"])


def test_crop_cuts_every_key_at_the_same_window(samples: list[dict]) -> None:
    sample = samples[0]
    out = crop(sample, 5, 11, 32, 40)
    assert torch.equal(out["image"], sample["image"][:, 5:37, 11:51])
    for key in MAP_KEYS:
        assert torch.equal(out[key], sample[key][5:37, 11:51]), key
    _boxes_fit_segmentation(out)


def test_random_crop_finds_consistent_window(samples: list[dict]) -> None:
    torch.manual_seed(1)
    transform = RandomCrop((24, 40))
    for sample in samples:
        out = transform(sample)
        check_sample(out)
        assert out["image"].shape == (3, 24, 40)
        # locate the window through the (noisy, so unique) image, then check the targets there
        corner = (sample["image"] == out["image"][:, :1, :1]).all(dim=0).nonzero().tolist()
        windows = [
            (t, l)
            for t, l in corner
            if torch.equal(sample["image"][:, t : t + 24, l : l + 40], out["image"])
        ]
        assert len(windows) == 1, "the crop is not exactly one window of the image"
        t, l = windows[0]
        for key in MAP_KEYS:
            assert torch.equal(out[key], sample[key][t : t + 24, l : l + 40]), key
        # boxes: shifted, clipped to the window, dropped when under a pixel wide/high
        expected = sample["boxes"] - torch.tensor([l, t, l, t], dtype=torch.float32)
        expected[:, 0::2] = expected[:, 0::2].clamp(0, 40)
        expected[:, 1::2] = expected[:, 1::2].clamp(0, 24)
        keep = (expected[:, 2] - expected[:, 0] >= 1) & (expected[:, 3] - expected[:, 1] >= 1)
        assert torch.equal(out["boxes"], expected[keep])
        assert torch.equal(out["labels"], sample["labels"][keep])


def test_crop_larger_than_image_pads_with_ignore(samples: list[dict]) -> None:
    out = RandomCrop((70, 90))(samples[1])
    assert out["image"].shape == (3, 70, 90)
    assert (out["segmentation"][61:] == 255).all() and (out["segmentation"][:, 77:] == 255).all()
    assert not out["depth_mask"][61:].any() and out["depth_mask"][:61, :77].all()
    assert (out["image"][:, 61:] == 0).all()
    _same({k: out[k][..., :61, :77] for k in ("image", *MAP_KEYS)} | out, out)


def test_downscale_halves_every_key(samples: list[dict]) -> None:
    for sample in samples:
        out = downscale(sample, 2)
        check_sample(out)
        assert out["image"].shape == (3, 30, 38)  # floor(61/2) × floor(77/2)
        for key in MAP_KEYS:
            assert out[key].shape == (30, 38)
        # nearest: every label/depth value comes from the source map at the same place
        assert torch.equal(out["segmentation"], sample["segmentation"][1:61:2, 1:77:2][:30, :38])
        assert torch.equal(out["depth"], sample["depth"][1:61:2, 1:77:2][:30, :38])
        scale = torch.tensor([38 / 77, 30 / 61, 38 / 77, 30 / 61])
        assert torch.allclose(out["boxes"], sample["boxes"] * scale)
    even = ShapesWorld(num_samples=1, image_size=64)[0]
    half = downscale(even, 2)
    assert half["image"].shape == (3, 32, 32)
    assert torch.allclose(half["boxes"], even["boxes"] / 2)
    assert torch.allclose(half["image"].mean(), even["image"].mean(), atol=0.01)


def test_pad_to_multiple(samples: list[dict]) -> None:
    sample = samples[2]
    out = pad_to_multiple(sample, 32)
    assert out["image"].shape == (3, 64, 96)
    assert torch.equal(out["image"][:, :61, :77], sample["image"])
    assert torch.equal(out["image"][:, 61:, :77], sample["image"][:, -1:, :].expand(3, 3, 77))
    assert (out["segmentation"][61:] == 255).all() and (out["segmentation"][:, 77:] == 255).all()
    assert not out["depth_mask"][:, 77:].any()
    _same(out | {k: sample[k] for k in ("image", *MAP_KEYS)}, sample)
    zero = PadToMultiple(16, image_mode="constant")(sample)
    assert zero["image"].shape == (3, 64, 80) and (zero["image"][:, :, 77:] == 0).all()
    assert pad_to_multiple(out, 32)["image"].shape == (3, 64, 96)  # already a multiple


def test_jitter_changes_only_the_image(samples: list[dict]) -> None:
    jitter = ColorJitter(0.5, 0.5, 0.5, 0.1)
    torch.manual_seed(3)
    out = jitter(samples[0])
    torch.manual_seed(3)
    again = jitter(samples[0])
    assert torch.equal(out["image"], again["image"])
    assert not torch.equal(out["image"], samples[0]["image"])
    assert 0.0 <= float(out["image"].min()) and float(out["image"].max()) <= 1.0
    for key in (*MAP_KEYS, "boxes", "labels"):
        assert torch.equal(out[key], samples[0][key])


def test_transforms_do_not_mutate_input(samples: list[dict]) -> None:
    sample = samples[3]
    before = {k: v.clone() for k, v in sample.items() if isinstance(v, torch.Tensor)}
    Compose([RandomCrop(32), hflip, ColorJitter(), PadToMultiple(64)])(sample)
    downscale(sample)
    for key, value in before.items():
        assert torch.equal(sample[key], value), key


def test_builder_keywords_give_the_pipeline() -> None:
    assert build_transforms() is None
    pipeline = build_transforms(crop=48, flip=True, jitter=0.2, downscale=True, pad_multiple=32)
    names = [type(t).__name__ for t in pipeline.transforms]
    assert names == [
        "Downscale",
        "RandomCrop",
        "RandomHorizontalFlip",
        "ColorJitter",
        "PadToMultiple",
    ]
    ds = build_dataset(
        {"name": "shapesworld", "num_samples": 4, "image_size": (97, 131), "downscale": True,
         "crop": (40, 50), "flip": True, "jitter": True, "pad_multiple": 32}
    )  # fmt: skip
    torch.manual_seed(0)
    batch = collate([ds[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 64, 64)  # 97×131 → 48×65 → crop 40×50 → pad 64×64
    assert batch["segmentation"].shape == (4, 64, 64)
    with pytest.raises(ConfigError):
        build_transforms(pad_multiple=16, pad_mode="reflect")
    with pytest.raises(ConfigError):
        build_dataset({"name": "shapesworld", "crop": 8, "transform": hflip})


def test_collate_rejects_unequal_sizes() -> None:
    a = ShapesWorld(num_samples=1, image_size=32)[0]
    b = ShapesWorld(num_samples=1, image_size=48)[0]
    with pytest.raises(ValueError, match="crop or pad"):
        collate([a, b])
