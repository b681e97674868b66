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


def test_vectors_read_back_exactly_as_float32() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.standard_normal((5, 384)).astype(np.float32)
    for row, field in zip(matrix, _vectors(matrix), strict=True):
        back = np.array(field.strip('"').split(";"), dtype=np.float32)
        assert np.array_equal(back, row)


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
