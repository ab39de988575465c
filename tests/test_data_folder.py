"""Image-folder and Kodak loaders: counts, sizes, order and errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hmcodec.data import build_dataset, check_sample
from hmcodec.data.folder import ImageFolder, Kodak
from hmcodec.errors import ConfigError

DATA = Path(
    os.environ.get("HMCODEC_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)
KODAK = DATA / "kodak"


@pytest.mark.skipif(not KODAK.is_dir(), reason=f"Kodak not found at {KODAK} (set HMCODEC_DATA)")
def test_kodak_has_24_images_of_the_right_sizes() -> None:
    ds = build_dataset({"name": "kodak", "root": KODAK})
    assert len(ds) == 24 and ds.label_names == [] and ds.num_classes == 0
    assert [p.name for p in ds.paths] == [f"kodim{i:02d}.png" for i in range(1, 25)]
    sizes = [Image.open(p).size for p in ds.paths]  # header only: cheap
    assert sizes.count((768, 512)) == 18 and sizes.count((512, 768)) == 6
    for index in (0, 3):  # kodim04 is portrait
        sample = ds[index]
        check_sample(sample)
        w, h = sizes[index]
        assert sample["image"].shape == (3, h, w)
        assert set(sample) == {"image", "meta"}
        assert sample["meta"] == {"path": str(ds.paths[index]), "index": index}


@pytest.mark.skipif(not KODAK.is_dir(), reason=f"Kodak not found at {KODAK} (set HMCODEC_DATA)")
def test_kodak_default_root_and_padding() -> None:
    if os.environ.get("HMCODEC_DATA") is None:
        assert Kodak().root.resolve() == KODAK.resolve()
    ds = build_dataset({"name": "kodak", "root": KODAK, "pad_multiple": 64})
    assert ds[3]["image"].shape == (3, 768, 512)  # already multiples of 64


def test_folder_reads_images_sorted_and_skips_others(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = {name: rng.integers(0, 256, (9, 13, 3), dtype=np.uint8) for name in ("b.png", "a.bmp")}
    for name, array in pixels.items():
        Image.fromarray(array).save(tmp_path / name)
    Image.fromarray(pixels["a.bmp"][..., 0]).save(tmp_path / "c.PNG")  # greyscale → RGB
    Image.fromarray(pixels["b.png"]).save(tmp_path / "d.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("not an image")
    ds = build_dataset({"name": "folder", "root": tmp_path})
    assert [p.name for p in ds.paths] == ["a.bmp", "b.png", "c.PNG", "d.jpg"]
    for name, index in (("a.bmp", 0), ("b.png", 1)):
        image = ds[index]["image"]
        assert torch.equal(
            (image * 255).round().byte().permute(1, 2, 0), torch.from_numpy(pixels[name])
        )
    grey = ds[2]["image"]
    assert grey.shape == (3, 9, 13) and torch.equal(grey[0], grey[2])
    check_sample(ds[3])


def test_folder_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing"):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images"):
        ImageFolder(tmp_path / "empty")
    with pytest.raises(ConfigError, match="missing"):
        Kodak(tmp_path / "missing")
