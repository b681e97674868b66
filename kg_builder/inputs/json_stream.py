"""Stream the elements of a top-level JSON array from a file in linear time and bounded memory.

The file is read in chunks; each element is decoded by the standard library's C decoder as soon
as it is complete, and the text before it is dropped, so memory holds one chunk plus the element
being decoded. An element that is not valid JSON is reported with its line and the stream
resynchronises at the next element (``}, {`` at the top level); an element larger than
``max_item_chars`` is refused the same way instead of growing the buffer without end, and the
text skipped while resynchronising (or between elements) is dropped as it is read, so memory
stays bounded by the chunk and ``max_item_chars`` whatever the file holds.

Both this streamer and ``json_loads`` (the JSONL reader's parser) refuse what JSON does not
have or Neo4j cannot store: ``NaN``, ``Infinity``, numbers that overflow to infinity, and
integers of more digits than Python converts (4,300); such an element is a ``BadElement``.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kg_builder.core.errors import InputFormatError

CHUNK_CHARS = 1 << 20
MAX_ITEM_CHARS = 1 << 20  # a post with ten intentions is about 1.5 KB
_LEADING = re.compile("[ \t\r\n\ufeff]*")
_SEPARATORS = re.compile(r"[ \t\r\n,]*")
_AFTER_SCALAR = frozenset(" \t\r\n,]")
_NEXT_ITEM = re.compile(r"\}\s*,\s*(?=\{)")
_BLANKS = re.compile(r"\s*")
_PARTIAL_SEPARATOR = re.compile(r"\s*(,\s*)?")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (NaN and Infinity cannot be stored)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]}{'...' if len(text) > 40 else ''} is too large "
                         "(it overflows to infinity)")
    return value


def _bounded_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > (limit := sys.get_int_max_str_digits() or 1_000_000):
        raise ValueError(f"a number with {digits:,} digits (more than {limit:,})")
    return int(text)


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_int=_bounded_int,
                            parse_constant=_no_constant)


def json_loads(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity, overflowing floats and over-long integers
    (ValueError naming which; JSONDecodeError for text that is not JSON)."""
    value, end = _DECODER.raw_decode(text, len(text) - len(text.lstrip(" \t\r\n")))
    if text[end:].strip(" \t\r\n"):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


@dataclass(frozen=True, slots=True)
class Element:
    """One decoded element: its index in the array, the line it starts on, and its value."""

    index: int
    line: int
    value: Any


@dataclass(frozen=True, slots=True)
class BadElement:
    """An element that could not be decoded, with where it started and why."""

    index: int
    line: int
    reason: str


class _Buffer:
    """A sliding window over a text file that knows the line number of any position in it."""

    def __init__(self, fh: TextIO, chunk_chars: int) -> None:
        self.fh = fh
        self.chunk_chars = chunk_chars
        self.text = ""
        self.eof = False
        self._line_at_start = 1  # line of text[0]
        self._counted_pos = 0  # newlines counted in text[:_counted_pos]
        self._counted_lines = 0

    def fill(self) -> bool:
        """Read one more chunk; False at the end of the file."""
        if self.eof:
            return False
        chunk = self.fh.read(self.chunk_chars)
        if not chunk:
            self.eof = True
            return False
        self.text += chunk
        return True

    def line(self, pos: int) -> int:
        if pos < self._counted_pos:
            self._counted_pos, self._counted_lines = 0, 0
        self._counted_lines += self.text.count("\n", self._counted_pos, pos)
        self._counted_pos = pos
        return self._line_at_start + self._counted_lines

    def drop_before(self, pos: int) -> int:
        """Forget text before ``pos`` (once it is worth a copy); returns the new position."""
        if pos < self.chunk_chars:
            return pos
        self._line_at_start = self.line(pos)
        self.text = self.text[pos:]
        self._counted_pos, self._counted_lines = 0, 0
        return 0


def iter_json_array(
    path: Path, *, chunk_chars: int = CHUNK_CHARS, max_item_chars: int = MAX_ITEM_CHARS,
) -> Iterator[Element | BadElement]:
    """Yield each element of the JSON array in ``path`` (or why it could not be decoded).

    Raises ``InputFormatError`` when the file is missing, not UTF-8, or not a JSON array.
    """
    try:
        fh = path.open(encoding="utf-8", newline="")
    except FileNotFoundError as exc:
        raise InputFormatError(f"{path}: no such file; pass the path of a MIKO release file") from exc
    except IsADirectoryError as exc:
        raise InputFormatError(f"{path}: is a folder; pass a MIKO release file") from exc
    with fh:
        try:
            yield from _elements(path, _Buffer(fh, chunk_chars), max_item_chars)
        except UnicodeDecodeError as exc:
            raise InputFormatError(
                f"{path}: not UTF-8 text ({exc.reason}); save the file as UTF-8"
            ) from exc


def _elements(path: Path, buf: _Buffer, max_item_chars: int) -> Iterator[Element | BadElement]:
    pos = 0
    while True:  # find the opening bracket
        leading = _LEADING.match(buf.text, pos)
        pos = buf.drop_before(leading.end() if leading else pos)
        if pos < len(buf.text) or not buf.fill():
            break
    if buf.text[pos:pos + 1] != "[":
        raise InputFormatError(
            f"{path}:{buf.line(pos)}: expected a JSON array of posts (the MIKO release format); "
            "for one JSON object per line use --format jsonl"
        )
    pos += 1
    index = 0
    while True:
        pos = buf.drop_before(pos)
        while True:  # skip separators, reading on as needed (and dropping what was skipped)
            skipped = _SEPARATORS.match(buf.text, pos)
            pos = buf.drop_before(skipped.end() if skipped else pos)
            if pos < len(buf.text) or not buf.fill():
                break
        if pos >= len(buf.text):
            yield BadElement(index, buf.line(pos), "unterminated JSON array (no closing ']')")
            return
        if buf.text[pos] == "]":
            return
        while True:
            try:
                value, end = _DECODER.raw_decode(buf.text, pos)
            except (ValueError, RecursionError) as exc:
                bad: BadElement
                if isinstance(exc, json.JSONDecodeError):
                    if len(buf.text) - pos <= max_item_chars and buf.fill():
                        continue  # most likely cut off by the chunk's end: read on, try again
                    if len(buf.text) - pos > max_item_chars:
                        bad = BadElement(index, buf.line(pos), (
                            f"element larger than {max_item_chars:,} characters or invalid JSON "
                            f"({exc.msg})"))
                    else:
                        bad = BadElement(index, buf.line(exc.pos), f"invalid JSON: {exc.msg}")
                elif isinstance(exc, RecursionError):
                    bad = BadElement(index, buf.line(pos), "invalid JSON: nested too deeply")
                else:  # the parse hooks: NaN, Infinity, over-long numbers
                    bad = BadElement(index, buf.line(pos), f"invalid JSON: {exc}")
                yield bad
                resume = _resync(buf, pos + 1)
                if resume is None:
                    return
                pos = resume
                break
            if ((end == len(buf.text) or (not isinstance(value, dict | list | str)
                                          and buf.text[end] not in _AFTER_SCALAR))
                    and len(buf.text) - pos <= max_item_chars and buf.fill()):
                continue  # a number cut by the chunk's end ("15" of "1.5e3"): read on
            if end - pos > max_item_chars:  # complete, but over the limit all the same
                yield BadElement(index, buf.line(pos),
                                 f"element larger than {max_item_chars:,} characters")
            else:
                yield Element(index, buf.line(pos), value)
            pos = end
            break
        index += 1


def _resync(buf: _Buffer, from_pos: int) -> int | None:
    """The start of the next element after a bad one (the ``{`` after ``}`` and ``,`` at the
    top level), reading on as needed and dropping what was searched; None at the end.

    A separator cut by the end of the buffer (``}`` then blanks, with or without the comma) is
    remembered as a state rather than kept as text, so any run of blanks costs no memory.
    """
    pos, state = from_pos, 0  # state 1: after "}" and blanks; 2: after "}", blanks and ","
    while True:
        text = buf.text
        while state and pos < len(text):
            blanks = _BLANKS.match(text, pos)
            pos = blanks.end() if blanks else pos
            if pos == len(text):
                break
            if state == 1 and text[pos] == ",":
                state, pos = 2, pos + 1
            elif state == 2 and text[pos] == "{":
                return pos
            else:
                state = 0  # not a separator after all: search on from here
        if not state:
            m = _NEXT_ITEM.search(text, pos)
            if m:
                return m.end()
            close = text.rfind("}", pos)
            if close >= 0 and (tail := _PARTIAL_SEPARATOR.fullmatch(text, close + 1)):
                state = 2 if tail.group(1) else 1
            pos = len(text)
        pos = buf.drop_before(pos)  # what was searched is not kept
        if not buf.fill():
            return None
