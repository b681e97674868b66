"""The streaming JSON array reader: same values as ``json.loads`` at any chunk size, bad
elements reported with their line while the rest is read, and memory bounded by the chunk."""

import json
import tracemalloc
from pathlib import Path

import pytest

from kg_builder.core.errors import InputFormatError
from kg_builder.loading.json_stream import BadElement, Element, iter_json_array

VALUES = [{"text": "plain"}, {"text": "ünïcödé ✓ and \"quotes\" and \\ and \n"}, [1, 2, {"a": None}],
          123456789, 1.5e3, "a string", True, None, {"nested": {"deep": [{"x": "}, {"}]}}]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_values_equal_json_loads_at_any_chunk_size(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "a.json"
    lines, text = [], "\ufeff [\n"
    for n, value in enumerate(VALUES):
        lines.append(text.count("\n") + 1)
        text += json.dumps(value, ensure_ascii=False, indent=1) + (",\n" if n < len(VALUES) - 1 else "\n")
    path.write_text(text + "]\n", encoding="utf-8")
    items = list(iter_json_array(path, chunk_chars=chunk))
    assert all(isinstance(i, Element) for i in items), items
    assert [i.value for i in items if isinstance(i, Element)] == VALUES
    assert [i.index for i in items] == list(range(len(VALUES)))
    assert [i.line for i in items] == lines


@pytest.mark.parametrize("chunk", [5, 1 << 20])
def test_bad_element_is_reported_and_the_rest_is_read(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "a.json"
    path.write_text('[\n{"a": 1},\n{"b": 2,, "x": 3},\n{"c": 3},\n{"d": "unterminated},\n{"e": 5}\n]\n')
    items = list(iter_json_array(path, chunk_chars=chunk))
    good = [i for i in items if isinstance(i, Element)]
    bad = [i for i in items if isinstance(i, BadElement)]
    assert [g.value for g in good] == [{"a": 1}, {"c": 3}, {"e": 5}]
    assert [g.line for g in good] == [2, 4, 6]
    assert [(b.index, b.line) for b in bad] == [(1, 3), (3, 5)]
    assert all(b.reason.startswith("invalid JSON") for b in bad)


def test_oversized_element_is_refused_without_reading_on(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('[{"a": "' + "x" * 5000 + '"}, {"b": 1}]')
    items = list(iter_json_array(path, chunk_chars=100, max_item_chars=1000))
    assert isinstance(items[0], BadElement) and "larger than 1,000 characters" in items[0].reason
    assert isinstance(items[1], Element) and items[1].value == {"b": 1}


def test_unterminated_array_and_not_an_array(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('[{"a": 1},')
    items = list(iter_json_array(path))
    assert isinstance(items[-1], BadElement) and "no closing ']'" in items[-1].reason
    path.write_text('{"a": 1}')
    with pytest.raises(InputFormatError, match="expected a JSON array"):
        list(iter_json_array(path))
    path.write_bytes(b'[{"a": "\xff"}]')
    with pytest.raises(InputFormatError, match="not UTF-8"):
        list(iter_json_array(path))
    with pytest.raises(InputFormatError, match="no such file"):
        list(iter_json_array(tmp_path / "missing.json"))


def test_memory_is_bounded_by_the_chunk_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    element = json.dumps({"text": "y" * 1000, "intentions": {"Intention 1": "z" * 500}})
    with path.open("w") as fh:
        fh.write("[\n" + ",\n".join([element] * 20_000) + "\n]")  # ~30 MB
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_json_array(path, chunk_chars=1 << 16))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 2_000_000, f"peak {peak:,} bytes while reading a {path.stat().st_size:,}-byte file"
