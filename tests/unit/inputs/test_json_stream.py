"""The streaming JSON array reader: same values as ``json.loads`` at any chunk size, bad
elements reported with their line while the rest is read, and memory bounded by the chunk."""

import json
import tracemalloc
from pathlib import Path

import pytest

from kg_builder.core.errors import InputFormatError
from kg_builder.inputs.json_stream import BadElement, Element, iter_json_array

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


@pytest.mark.parametrize("chunk", [100, 1 << 20])
def test_the_element_limit_is_exact(tmp_path: Path, chunk: int) -> None:
    """An element is refused one character over the limit even when it fits in the buffer."""
    path = tmp_path / "a.json"
    at = '{"a": "' + "x" * (1000 - 9) + '"}'
    assert len(at) == 1000
    path.write_text("[" + at + ", " + at.replace('"}', 'y"}') + ', {"b": 1}]')
    items = list(iter_json_array(path, chunk_chars=chunk, max_item_chars=1000))
    assert isinstance(items[0], Element) and isinstance(items[2], Element)
    assert isinstance(items[1], BadElement) and "larger than 1,000 characters" in items[1].reason


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


@pytest.mark.parametrize("chunk", [3, 64, 1 << 20])
def test_values_json_has_not_or_neo4j_cannot_store_are_bad_elements(tmp_path: Path,
                                                                    chunk: int) -> None:
    path = tmp_path / "a.json"
    bad = ['{"n": NaN}', '{"n": -Infinity}', '{"n": Infinity}', '{"n": 1e400}',
           '{"n": ' + "9" * 4301 + "}", '{"n": ' + "[" * 100_000 + "]" * 100_000 + "}"]
    text = "[\n" + ",\n".join(f'{{"ok": {n}}},\n{b}' for n, b in enumerate(bad)) + ',\n{"ok": 9}\n]'
    path.write_text(text)
    items = list(iter_json_array(path, chunk_chars=chunk))
    assert [i.value for i in items if isinstance(i, Element)] == [
        {"ok": n} for n in [*range(len(bad)), 9]]
    reasons = [(i.line, i.reason) for i in items if isinstance(i, BadElement)]
    assert [line for line, _ in reasons] == [3, 5, 7, 9, 11, 13]
    assert "NaN is not a JSON number" in reasons[0][1]
    assert "-Infinity is not a JSON number" in reasons[1][1]
    assert "Infinity is not a JSON number" in reasons[2][1]
    assert "1e400 is too large" in reasons[3][1]
    assert "4,301 digits (more than 4,300)" in reasons[4][1]
    assert "nested too deeply" in reasons[5][1]


def test_json_loads_refuses_the_same(tmp_path: Path) -> None:
    from kg_builder.inputs.json_stream import json_loads

    assert json_loads(' {"a": [1, 2.5, "x", null, true]} \n') == {"a": [1, 2.5, "x", None, True]}
    assert json_loads(str(2**64)) == 2**64  # (refused where it would be stored: see the models)
    for text, why in (("NaN", "NaN"), ("[Infinity]", "Infinity"), ("-1e999", "too large"),
                      ("1" * 4301, "4,301 digits")):
        with pytest.raises(ValueError, match=why):
            json_loads(text)
    with pytest.raises(json.JSONDecodeError, match="Extra data"):
        json_loads('{"a": 1} {"b": 2}')


@pytest.mark.parametrize("chunk", [2, 5, 1 << 20])
def test_a_bad_element_is_skipped_across_any_run_of_blanks(tmp_path: Path, chunk: int) -> None:
    """The separator after a bad element may be cut anywhere by the buffer's end: the next
    element is still found, and the blanks skipped are not kept."""
    path = tmp_path / "a.json"
    blanks = " \n" * 3000
    path.write_text('[{"a": 1}, {"b": 2,, "x": 3}' + blanks + "," + blanks + '{"c": 3},'
                    + blanks + '{"d": NaN}' + blanks + ', {"e": 5}]')
    items = list(iter_json_array(path, chunk_chars=chunk))
    assert [i.value for i in items if isinstance(i, Element)] == [{"a": 1}, {"c": 3}, {"e": 5}]
    assert [i.line for i in items if isinstance(i, Element)] == [1, 6001, 12001]
    assert [i.index for i in items if isinstance(i, BadElement)] == [1, 3]


def test_memory_is_bounded_for_a_huge_bad_element_and_huge_blanks(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("w") as fh:
        fh.write('[{"a": 1}, {"b": "' + "x" * 20_000_000 + '"},' + " " * 20_000_000
                 + '{"c": 3}, ' + " " * 20_000_000 + '{"d": 4}]')
    tracemalloc.start()
    try:
        items = list(iter_json_array(path, chunk_chars=1 << 16, max_item_chars=1 << 16))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [i.value for i in items if isinstance(i, Element)] == [{"a": 1}, {"c": 3}, {"d": 4}]
    assert isinstance(items[1], BadElement) and "larger than 65,536 characters" in items[1].reason
    assert peak < 2_000_000, f"peak {peak:,} bytes while reading a {path.stat().st_size:,}-byte file"
