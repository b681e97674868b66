"""The import files of the bulk path say exactly what the online loader writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kg_builder.core.settings import Settings
from kg_builder.loading.bulk import BulkLoader, BulkLoadError, _field, _Files, _vectors


@pytest.mark.parametrize(("value", "field"), [
    (None, ""), ("", '""'), ('say "hi", then go', '"say ""hi"", then go"'), (3, "3"),
    (True, "true"), (0.5, "0.5"), ([1, 0, 1], '"1;0;1"'), ([], '""'),
    ("a;b\\c", '"a;b\\c"'),
])
def test_fields(value: Any, field: str) -> None:
    assert _field(value) == field


def test_vectors_read_back_within_5e10_of_float32() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.standard_normal((50, 384)).astype(np.float32)
    matrix[0, :4] = [-1.0, 0.0, -0.0, 9.49]
    fields = _vectors(matrix)
    assert fields[0].startswith('"-1.000000000;00.000000000;-0.000000000;09.4')
    back = np.array([f.strip('"').split(";") for f in fields], dtype=np.float64)
    assert np.abs(back - matrix.astype(np.float64)).max() <= 5.01e-10
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    again = np.array([f.strip('"').split(";") for f in _vectors(unit)], dtype=np.float32)
    again /= np.linalg.norm(again, axis=1, keepdims=True)
    assert np.abs(np.sum(again * unit, axis=1) - 1).max() < 1e-6


def test_large_or_non_finite_components_are_written_exactly() -> None:
    matrix = np.array([[1e3, -2.5, 0.125], [np.inf, 1.0, 0.0]], dtype=np.float32)
    assert _vectors(matrix) == ['"1000.0;-2.5;0.125"', '"inf;1.0;0.0"']
    assert _vectors(np.zeros((0, 3), dtype=np.float32)) == []


def test_files_have_one_header_and_know_which_hold_newlines(tmp_path: Path) -> None:
    files = _Files(tmp_path)
    header = ["id:ID(Post)", "text"]
    files.row("posts", [_field("p1"), _field("one line")], header, labels="Post")
    files.row("posts", [_field("p2"), _field("two\nlines")], header, labels="Post")
    files.row("edges", [_field("p1"), _field("i1")], [":START_ID(Post)", ":END_ID(Intention)"],
              rel_type="X_WANT")
    files.close()
    assert (tmp_path / "posts.csv").read_text() == (
        'id:ID(Post),text\n"p1","one line"\n"p2","two\nlines"\n')
    assert files.multiline == {str(tmp_path / "posts.csv")}
    assert files.nodes == {"Post": [str(tmp_path / "posts.csv")]}
    assert files.relationships == {"X_WANT": [str(tmp_path / "edges.csv")]}


def test_bulk_needs_the_managed_server() -> None:
    settings = Settings(neo4j_uri="bolt://db.example:7687")
    with pytest.raises(BulkLoadError, match=r"MIKO_NEO4J_URI is set .* load without --bulk"):
        BulkLoader(settings, embedder=None)  # type: ignore[arg-type]
