"""Shared pieces of the file-backed datasets: base class, image reading, data location."""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from hmcodec.errors import ConfigError, ImageError

#: environment variable naming the folder that holds kodak/, camvid/, coco128/ …
DATA_ENV = "HMCODEC_DATA"


def default_data_root() -> Path:
    """``$HMCODEC_DATA`` if set, else ``../shared/data`` beside the repository root."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    repo = Path(__file__).resolve().parents[3]  # src/hmcodec/data/base.py -> repository root
    return repo.parent / "shared" / "data"


def require_dir(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path; ConfigError naming it if it is not a folder."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise ConfigError(f"{what} folder {str(path)!r} does not exist.")
    return path


def require_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path; ConfigError naming it if it is not a file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist.")
    return path


def check_split(split: str, splits: tuple[str, ...], dataset: str) -> None:
    if split not in splits:
        raise ConfigError(f"unknown {dataset} split {split!r}; known: {', '.join(splits)}.")


def read_rgb(path: str | os.PathLike[str]) -> torch.Tensor:
    """An image file as float32 3×H×W in [0, 1]."""
    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise ImageError(f"cannot read image {str(path)!r}: {err}") from err
    # numpy (single-threaded) rather than torch ops: cheap and no thread contention in workers
    chw = np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)
    chw /= np.float32(255.0)
    return torch.from_numpy(chw)


def read_array(path: str | os.PathLike[str]) -> np.ndarray:
    """A single-channel (label / 16-bit) PNG as a numpy array, without colour conversion."""
    try:
        with Image.open(path) as img:
            return np.array(img)
    except (OSError, ValueError) as err:
        raise ImageError(f"cannot read image {str(path)!r}: {err}") from err


class SampleDataset(Dataset):
    """A map-style dataset of schema samples: subclasses implement ``__len__`` and ``load``."""

    label_names: list[str] = []
    num_classes: int = 0

    def __init__(self, transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None):
        self.transform = transform

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def load(self, index: int) -> dict[str, Any]:
        """Sample ``index`` before any transform."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of {n}")
        sample = self.load(index)
        if self.transform is not None:
            sample = self.transform(sample)
        return sample
