"""Images: reading any image as RGB (with a notice), writing PNGs; atomic torch saves (the
file helpers themselves live in :mod:`hmcodec.files`)."""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from hmcodec.errors import ImageError
from hmcodec.files import atomic_write, output_target

__all__ = ["atomic_torch_save", "atomic_write", "output_target", "read_image", "write_png"]

log = logging.getLogger("hmcodec")


def atomic_torch_save(obj: object, path: str | os.PathLike[str]) -> Path:
    return atomic_write(path, lambda temp: torch.save(obj, temp))


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    frames = getattr(image, "n_frames", 1)  # multi-frame formats only
    if frames > 1:
        log.warning("%s has %d frames; coding the first one", name, frames)
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        log.warning("%s is %s (16-bit grey); scaled to 8 bits and coded as RGB", name, mode)
        grey = np.clip(np.round(array / peak * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "F":
        raise ImageError(
            f"{name} is a 32-bit floating-point image, which hmcodec cannot code; "
            "convert it to 8-bit RGB first."
        )
    if mode in ("RGBA", "LA", "PA", "RGBa") or (mode == "P" and "transparency" in image.info):
        log.warning(
            "%s has an alpha channel (%s); it is dropped and the colours coded as RGB", name, mode
        )
    else:
        log.warning("%s is in mode %s; converted to RGB", name, mode)
    return image.convert("RGB")


def _too_many_pixels(path: Path, error: Exception) -> ImageError:
    """Pillow's decompression-bomb refusal as one sentence with the limit and how to raise it."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    size = f"{int(found.group(1)):,} pixels" if found else "more pixels than allowed"
    return ImageError(
        f"{path} has {size}, more than the limit of {Image.MAX_IMAGE_PIXELS:,} pixels that guards "
        "against decompression bombs; to read it, raise PIL.Image.MAX_IMAGE_PIXELS (or set it to "
        "None) before calling hmcodec."
    )


def read_image(path: str | os.PathLike[str]) -> tuple[Tensor, str]:
    """Read an image as float 3×H×W in [0, 1] and return it with its original PIL mode.

    An image of more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (Pillow's decompression-bomb
    guard, about 89 million by default) is refused with :class:`ImageError` before it is
    decoded; Pillow itself would only warn up to twice that limit, hmcodec refuses from it.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image file {path} does not exist.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                mode = image.mode
                rgb = _to_rgb(image, str(path))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_many_pixels(path, error) from None
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image file that Pillow can read.") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"cannot read image {path}: {error}.") from None
    return from_uint8(np.asarray(rgb, dtype=np.uint8)), mode


def from_uint8(image: np.ndarray) -> Tensor:
    """uint8 H×W×C → float C×H×W in [0, 1] (the inverse of :func:`to_uint8`)."""
    return torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255.0


def to_uint8(image: Tensor) -> np.ndarray:
    """float 3×H×W in [0, 1] → uint8 H×W×3 (rounded, clipped)."""
    array = image.detach().clamp(0, 1).mul(255).round().to(torch.uint8)
    return array.permute(1, 2, 0).cpu().numpy()


def write_pil_png(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Save a PIL image as a PNG file through :func:`atomic_write` (so errors are one sentence)."""
    return atomic_write(path, lambda temp: image.save(temp, "PNG"))


def write_png(image: Tensor, path: str | os.PathLike[str]) -> Path:
    """Save a float 3×H×W image in [0, 1] as an 8-bit RGB PNG file (:func:`atomic_write`)."""
    return write_pil_png(Image.fromarray(to_uint8(image)), path)
