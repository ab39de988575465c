"""Writing files safely, with no heavy imports (the container and the CLI's start-up use it).

``output_target`` refuses targets that are not regular files and follows symlinks;
``atomic_write`` writes through a temporary file in the same folder and renames it into place.
Every OS error becomes one :class:`~hmcodec.errors.OutputError` sentence.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from hmcodec.errors import HmcodecError, OutputError


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


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(temp_path)`` on a temporary file beside the target (its result is ignored),
    then rename it into place.

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
