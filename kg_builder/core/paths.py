"""Files are read only from where the user pointed: image paths confined to their folder."""

from __future__ import annotations

import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

from kg_builder.core.errors import ImageError

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # larger files are refused before they are read


def confined_file(folder: Path, relative: str, max_bytes: int = MAX_IMAGE_BYTES) -> Path:
    """The regular file ``relative`` names inside ``folder``, or ImageError saying why not.

    Refused: absolute paths, ``..`` parts, anything (symlinks included) that resolves outside
    ``folder``, devices, FIFOs and folders, and files over ``max_bytes``. A missing file raises
    FileNotFoundError (the caller decides whether that is only a warning).
    """
    posix, windows = PurePosixPath(relative), PureWindowsPath(relative)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        raise ImageError(f"image path {relative!r} is absolute; give it relative to the images folder")
    if ".." in posix.parts or ".." in windows.parts:
        raise ImageError(f"image path {relative!r} contains '..'; images are read only inside "
                         "the images folder")
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ImageError(f"image path {relative!r} leads outside the images folder {root} "
                         "(through a link)")
    info = path.stat()  # FileNotFoundError propagates
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"image path {relative!r} is not a regular file")
    if info.st_size > max_bytes:
        raise ImageError(f"image {relative!r} is {info.st_size:,} bytes, over the limit of "
                         f"{max_bytes:,}")
    return path
