"""Lines of a file in bounded memory: the line readers' only way through their input.

A file is read in chunks; a line is held only while it is within ``max_bytes``. A longer one is
skipped to its newline without being kept (its length counted), so a 1 GiB line costs one chunk
of memory, is reported with its line number, and the lines after it keep their numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAX_LINE_BYTES = 1 << 20  # 1 MiB: a post at every limit of the input contract is ~100 KB of JSON
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True, slots=True)
class OverlongLine:
    """A line longer than the cap, skipped: its length in bytes (without the newline)."""

    length: int


def iter_lines(
    fh: BinaryIO, max_bytes: int = MAX_LINE_BYTES, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[int, bytes | OverlongLine]]:
    """``(line number, line without its newline)`` for every line of ``fh`` (the last one too
    when it has no newline), or ``OverlongLine`` for a line over ``max_bytes``."""
    lineno = 1
    parts: list[bytes] = []
    held = 0  # bytes of the current line in parts
    skipped = -1  # >= 0 while skipping an overlong line: its bytes so far
    pending = False  # a line has started (bytes after the last newline)
    while chunk := fh.read(chunk_bytes):
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            end = len(chunk) if newline < 0 else newline
            size = end - start
            if size:
                pending = True
                if skipped >= 0:
                    skipped += size
                elif held + size > max_bytes:
                    skipped, parts, held = held + size, [], 0
                else:
                    parts.append(chunk[start:end])
                    held += size
            if newline < 0:
                break
            yield lineno, (OverlongLine(skipped) if skipped >= 0 else b"".join(parts))
            lineno += 1
            parts, held, skipped, pending = [], 0, -1, False
            start = newline + 1
    if pending:
        yield lineno, (OverlongLine(skipped) if skipped >= 0 else b"".join(parts))


def overlong_reason(line: OverlongLine, max_bytes: int) -> str:
    return (f"line is {line.length:,} bytes, over the limit of {max_bytes:,} bytes a line; "
            "skipped (split the record or shorten its fields)")
