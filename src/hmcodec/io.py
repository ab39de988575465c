"""Files: atomic writes, reading any image as RGB (with a notice), writing PNGs."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import stat
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from hmcodec.errors import HmcodecError, ImageError, OutputError

log = logging.getLogger("hmcodec")


def _reason(error: OSError) -> str:
    """An OS error in a few words: ``Permission denied``, ``No space left on device``, ..."""
    return error.strerror or str(error) or type(error).__name__


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def output_target(
    path: str | os.PathLike[str],
    error: type[HmcodecError] = OutputError,
    what: str = "output file",
) -> Path:
    """The file that writing ``path`` replaces, or ``error`` (one sentence) if hmcodec refuses.

    A path that does not exist yet, or an existing regular file, is its own target. A path that
    exists but is not a regular file (a folder, a device such as ``/dev/full``, a named pipe, a
    socket) is refused: replacing it would destroy it. A symbolic link is written *through*: if
    it points (possibly via further links) to an existing regular file, that file is the target
    and is replaced, and the link itself stays; a dangling link, or one to anything but a
    regular file, is refused (as GNU ``cp`` does), so a link never makes hmcodec create a file
    somewhere the user did not name.
    """
    shown = Path(path)
    if not shown.name or shown.name in (".", ".."):
        raise error(f"cannot write {what} {os.fspath(path)!r}: it is not a file name.")
    target = shown
    if shown.is_symlink():
        target = Path(os.path.realpath(shown))
        if not target.exists():
            raise error(
                f"cannot write {what} {shown}: it is a symbolic link to {target}, which does not "
                "exist (hmcodec writes through a link only to an existing regular file)."
            )
    try:
        mode = target.stat().st_mode
    except OSError:  # absent (the usual case), or unreachable: the write itself will say why
        return target
    if not stat.S_ISREG(mode):
        via = f" (the target of the link {shown})" if target != shown else ""
        raise error(
            f"cannot write {what} {target}{via}: it is {_kind(mode)}, not a regular file, "
            "and hmcodec does not replace it."
        )
    return target


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(temp_path)`` on a temporary file beside the target, then rename it into place.

    The target is :func:`output_target`'s: a folder, device, pipe or dangling link is refused,
    and a link to a regular file replaces that file and keeps the link. Missing folders are
    created. A new file gets the usual permissions (0o666 less the umask), a replaced one keeps
    its own. Any error of the operating system (permission denied, read-only or full disk, a
    file where a folder should be) raises :class:`OutputError` naming the path, and leaves any
    existing file untouched and no temporary file behind. Returns ``path`` as given.
    """
    shown = Path(path)
    target = output_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = (
            "a file is in the way"
            if isinstance(error, (FileExistsError, NotADirectoryError))
            else _reason(error)
        )
        raise OutputError(
            f"cannot write {shown}: its folder {target.parent} cannot be created ({reason})."
        ) from None
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        os.close(
            os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        )
    except OSError as error:
        raise OutputError(f"cannot write {shown}: {_reason(error)}.") from None
    try:
        write(temp)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(target.stat().st_mode))
        os.replace(temp, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, HmcodecError):
            raise OutputError(f"cannot write {shown}: {_reason(error)}.") from None
        raise
    return shown


def atomic_torch_save(obj: object, path: str | os.PathLike[str]) -> Path:
    return atomic_write(path, lambda temp: torch.save(obj, temp))


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if getattr(image, "n_frames", 1) > 1:
        log.warning("%s has %d frames; coding the first one", name, image.n_frames)
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
