"""Files are read only from where the user pointed: image paths confined to their folder."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

from kg_builder.core.errors import ImageError

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # larger files are refused before they are read


def _check_relative(relative: str) -> None:
    if "\x00" in relative:
        raise ImageError("image path contains a NUL character")
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raise ImageError("image path is not valid Unicode (a lone surrogate)") from None
    posix, windows = PurePosixPath(relative), PureWindowsPath(relative)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        raise ImageError(f"image path {relative!r} is absolute; give it relative to the images folder")
    if ".." in posix.parts or ".." in windows.parts:
        raise ImageError(f"image path {relative!r} contains '..'; images are read only inside "
                         "the images folder")


def _check_file(relative: str, info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"image path {relative!r} is not a regular file")
    if info.st_nlink > 1:
        raise ImageError(
            f"image {relative!r} has {info.st_nlink} hard links, so it may be a file from outside "
            "the images folder; copy it into the folder (cp, not ln) to use it")
    if info.st_size > max_bytes:
        raise ImageError(f"image {relative!r} is {info.st_size:,} bytes, over the limit of "
                         f"{max_bytes:,}")


def confined_file(folder: Path, relative: str, max_bytes: int = MAX_IMAGE_BYTES) -> Path:
    """The regular file ``relative`` names inside ``folder``, or ImageError saying why not.

    Refused: absolute paths, ``..`` parts, anything (symlinks included) that resolves outside
    ``folder``, devices, FIFOs and folders, files with more than one hard link and files over
    ``max_bytes``. A missing file raises FileNotFoundError (the caller decides whether that is
    only a warning). ``read_confined_file`` reads it without a window between check and read.
    """
    _check_relative(relative)
    root = folder.resolve()
    try:
        path = (root / relative).resolve()
    except RuntimeError as exc:  # a symlink loop (Python 3.11)
        raise ImageError(f"image path {relative!r} is a loop of symbolic links") from exc
    if not path.is_relative_to(root):
        raise ImageError(f"image path {relative!r} leads outside the images folder {root} "
                         "(through a link)")
    _check_file(relative, path.stat(), max_bytes)  # FileNotFoundError propagates
    return path


def read_confined_file(folder: Path, relative: str, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of the file ``relative`` names inside ``folder``, under ``confined_file``'s rules.

    The path is resolved once (links inside the folder are followed), then opened component by
    component from the folder with ``O_NOFOLLOW``, so a link swapped in after the check is not
    followed; the checks (regular file, one hard link, size) are made on the opened file and the
    bytes read from it. FileNotFoundError (missing) and other OSErrors (unreadable) propagate.
    """
    _check_relative(relative)
    root = os.path.realpath(folder)
    resolved = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([root, resolved]) != root or resolved == root:
        if resolved == root:
            raise ImageError(f"image path {relative!r} is not a regular file")
        raise ImageError(f"image path {relative!r} leads outside the images folder {root} "
                         "(through a link)")
    parts = Path(os.path.relpath(resolved, root)).parts
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            try:
                if not last:
                    nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=fd)
                else:
                    # Refuse what is not a regular file before opening it (opening a device can
                    # act on it); O_NONBLOCK: a FIFO swapped in since does not block the open.
                    _check_file(relative, os.stat(part, dir_fd=fd, follow_symlinks=False),
                                max_bytes)
                    nxt = os.open(part, os.O_RDONLY | os.O_NONBLOCK | nofollow, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise ImageError(f"image path {relative!r} changed while it was read (a "
                                     "link appeared); read it again") from exc
                raise
            os.close(fd)
            fd = nxt
        info = os.fstat(fd)
        _check_file(relative, info, max_bytes)
        chunks: list[bytes] = []
        size = 0
        while block := os.read(fd, min(1 << 20, max_bytes + 1 - size) or 1):
            chunks.append(block)
            size += len(block)
            if size > max_bytes:
                raise ImageError(f"image {relative!r} grew over the limit of {max_bytes:,} "
                                 "bytes while it was read")
        return b"".join(chunks)
    finally:
        os.close(fd)
