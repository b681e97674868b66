"""Line-based input in bounded memory: a line over the cap is skipped to its newline without
being held, rejected with its line number and reason, and the lines after it still load with
their own numbers; a 200 MB line or JSON element costs a reader a few MB, not the line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kg_builder.core.models import PostRecord, Rejection
from kg_builder.inputs.lines import MAX_LINE_BYTES, OverlongLine, iter_lines
from kg_builder.inputs.readers import JsonlReader, SarcasmReader

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 64, 1 << 16])
def test_lines_and_their_numbers_at_any_chunk_size(chunk: int) -> None:
    data = b"first\n\nabcdefghij\r\nxy\n" + b"z" * 11 + b"\nlast"
    got = list(iter_lines(io.BytesIO(data), max_bytes=10, chunk_bytes=chunk))
    assert got == [(1, b"first"), (2, b""), (3, OverlongLine(11)), (4, b"xy"),
                   (5, OverlongLine(11)), (6, b"last")]
    assert list(iter_lines(io.BytesIO(b"a" * 10 + b"\n"), 10, chunk)) == [(1, b"a" * 10)]
    assert list(iter_lines(io.BytesIO(b""), 10, chunk)) == []
    assert list(iter_lines(io.BytesIO(b"\n\n"), 10, chunk)) == [(1, b""), (2, b"")]
    assert list(iter_lines(io.BytesIO(b"b" * 25), 10, chunk)) == [(1, OverlongLine(25))]


def posts_file(path: Path, long_line: bytes) -> Path:
    path.write_bytes(b"\n".join([
        json.dumps({"id": "before", "text": "the line before"}).encode(),
        long_line,
        b"",
        json.dumps({"id": "after", "text": "the line after"}).encode(),
        b"{broken",
    ]) + b"\n")
    return path


def test_a_jsonl_line_over_the_cap_is_rejected_and_the_rest_keeps_its_numbers(
    tmp_path: Path
) -> None:
    long_line = json.dumps({"id": "long", "text": "x" * 3000}).encode()
    reader = JsonlReader(posts_file(tmp_path / "p.jsonl", long_line), max_line_bytes=1000)
    items = list(reader)
    assert [i.id for i in items if isinstance(i, PostRecord)] == ["before", "after"]
    assert [i.origin.line for i in items if isinstance(i, PostRecord) and i.origin] == [1, 4]
    bad = [i for i in items if isinstance(i, Rejection)]
    assert [b.line for b in bad] == [2, 5]
    assert bad[0].reason.startswith(f"line is {len(long_line):,} bytes, over the limit of "
                                    "1,000 bytes a line; skipped")
    assert "invalid JSON" in bad[1].reason
    assert reader.stats.records == 2 and reader.stats.rejected == 2


def test_the_default_cap_is_one_mebibyte(tmp_path: Path) -> None:
    assert MAX_LINE_BYTES == 1 << 20
    # (an upper-case field is not a post property: only the line's length matters here)
    fits = json.dumps({"id": "fits", "text": "ok", "Pad": "y" * (MAX_LINE_BYTES - 100)})
    fits += " " * (MAX_LINE_BYTES - len(fits))  # exactly at the cap
    over = fits + " "
    path = tmp_path / "p.jsonl"
    path.write_text(fits + "\n" + over.replace("fits", "over") + "\n")
    items = list(JsonlReader(path))
    assert isinstance(items[0], PostRecord) and items[0].id == "fits"
    assert isinstance(items[1], Rejection) and items[1].line == 2
    assert "over the limit of 1,048,576 bytes" in items[1].reason


def test_a_sarcasm_line_over_the_cap_is_rejected_and_the_rest_keeps_its_numbers(
    tmp_path: Path
) -> None:
    path = tmp_path / "train.txt"
    path.write_text("['1', 'first', 0]\n['2', '" + "y" * 5000 + "', 1]\n['3', 'third', 1]\n")
    items = list(SarcasmReader(path, max_line_bytes=1000))
    assert [(i.id, i.origin.line) for i in items if isinstance(i, PostRecord) and i.origin] == [
        ("twitter_sarcasm:1", 1), ("twitter_sarcasm:3", 3)]
    [bad] = [i for i in items if isinstance(i, Rejection)]
    assert bad.line == 2 and "over the limit of 1,000 bytes a line" in bad.reason


# --- memory, measured in a process of its own --------------------------------------------------

HUGE = 200 << 20  # a 200 MB line (or JSON element)
READ_IN_CHILD = """
import sys
from pathlib import Path
from kg_builder.inputs.readers import JsonlReader, MikoReader, SarcasmReader
reader = {"jsonl": JsonlReader, "sarcasm": SarcasmReader, "miko": MikoReader}[sys.argv[1]]
for item in reader(Path(sys.argv[2])):
    print(item.id if hasattr(item, "id") else f"rejected {item.line}: {item.reason[:40]}")
# The peak of this process's own memory: VmHWM starts afresh at exec (ru_maxrss would carry
# the parent's peak over a vfork/exec).
print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


def write_huge(path: Path, *parts: bytes | tuple[bytes, int]) -> None:
    """Write the parts in order, ``(byte, n)`` as n copies streamed: the test never holds the
    huge line either."""
    with path.open("wb") as fh:
        for part in parts:
            if isinstance(part, bytes):
                fh.write(part)
                continue
            filler, count = part
            block = filler * (1 << 20)
            for _ in range(count // len(block)):
                fh.write(block)


def peak_of_reading(fmt: str, path: Path) -> tuple[list[str], int]:
    proc = subprocess.run([sys.executable, "-c", READ_IN_CHILD, fmt, str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    *lines, hwm = proc.stdout.strip().splitlines()
    return lines, int(hwm.split()[1]) * 1024


@pytest.mark.parametrize("fmt", ["jsonl", "sarcasm", "miko"])
def test_a_200_megabyte_line_is_rejected_in_bounded_memory(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"big.{fmt}"
    if fmt == "jsonl":
        write_huge(path, b'{"id": "a", "text": "first"}\n{"id": "big", "text": "', (b"a", HUGE),
                   b'"}\n{"id": "c", "text": "third"}\n')
        want = ["a", "rejected 2: line is 209,715,225 bytes, over the limi", "c"]
    elif fmt == "sarcasm":
        write_huge(path, b"['1', 'first', 0]\n['2', '", (b"a", HUGE), b"', 1]\n['3', 'third', 1]\n")
        want = ["twitter_sarcasm:1", "rejected 2: line is 209,715,212 bytes, over the limi",
                "twitter_sarcasm:3"]
    else:  # one JSON array: a 200 MB element, then 200 MB of blanks before the next one
        write_huge(path, b'[{"image": "1.jpg", "text": "first"},\n{"image": "2.jpg", "text": "',
                   (b"a", HUGE), b'"},', (b" ", HUGE), b'{"image": "3.jpg", "text": "third"}]')
        want = ["miko:big:1", "rejected 2: element larger than 1,048,576 characters", "miko:big:3"]
    assert path.stat().st_size > HUGE
    lines, peak = peak_of_reading(fmt, path)
    assert lines == want
    assert peak < 120 << 20, f"reading a {path.stat().st_size:,}-byte file peaked at {peak:,} bytes"
