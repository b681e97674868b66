"""The vector store behind `miko load --vectors`: round trip, hits without the model, one
model per store, read-only opening."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from kg_builder.core.errors import EmbeddingModelMismatchError, SettingsError
from kg_builder.embeddings.base import Vectors
from kg_builder.embeddings.store import StoredEmbedder, VectorStore, text_key


class CountingEmbedder:
    """A deterministic embedder that records every text it is asked for."""

    model_name = "counting"
    dimension = 4

    def __init__(self) -> None:
        self.asked: list[str] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.asked.extend(texts)
        out = np.array([[len(t), t.count("a"), sum(map(ord, t)) % 97, 1.0] for t in texts],
                       dtype=np.float32)
        normed: Vectors = out / np.linalg.norm(out, axis=1, keepdims=True)
        return normed


def test_stored_vectors_come_back_bit_for_bit(tmp_path: Path) -> None:
    model = CountingEmbedder()
    store = VectorStore(tmp_path / "v.sqlite", model.model_name, model.dimension)
    texts = ["a cat", "banana", "ünïcode ✓", ""]
    store.put(texts, model.embed(texts))
    found = store.get(["banana", "missing", "ünïcode ✓", ""])
    assert sorted(found) == ["", "banana", "ünïcode ✓"]
    np.testing.assert_array_equal(found["banana"], model.embed(["banana"])[0])
    assert len(store) == 4
    store.put(["banana"], np.zeros((1, 4), dtype=np.float32))  # a stored text is never replaced
    np.testing.assert_array_equal(store.get(["banana"])["banana"], model.embed(["banana"])[0])


def test_the_model_runs_only_for_texts_the_store_lacks(tmp_path: Path) -> None:
    model = CountingEmbedder()
    path = tmp_path / "v.sqlite"
    writer = StoredEmbedder(model, VectorStore(path, model.model_name, model.dimension),
                            write=True)
    first = writer.embed(["x", "y", "x"])
    assert model.asked == ["x", "y"]  # a repeated text is embedded once
    assert (writer.hits, writer.misses) == (0, 3)
    writer.store.close()

    model.asked.clear()
    reader = StoredEmbedder(model, VectorStore(path, model.model_name, model.dimension,
                                               read_only=True))
    again = reader.embed(["y", "z", "x"])
    assert model.asked == ["z"]
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[2], first[0])
    np.testing.assert_array_equal(again[1], model.embed(["z"])[0])
    assert (reader.hits, reader.misses) == (2, 1)
    assert "2 of 3 texts (hit rate 66.7%); 1 embedded by the model" in reader.describe()
    assert reader.store.get(["z"]) == {}  # read-only: the miss is not added


def test_another_models_store_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    VectorStore(path, "model-a", 4).close()
    with pytest.raises(EmbeddingModelMismatchError, match="are of model-a model .4 dimensions"
                       r".*MIKO_EMBEDDING_MODEL"):
        VectorStore(path, "model-b", 4, read_only=True)
    with pytest.raises(EmbeddingModelMismatchError):
        VectorStore(path, "model-a", 8)


def test_a_missing_or_foreign_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"no vector store at .*nope.sqlite"):
        VectorStore(tmp_path / "nope.sqlite", "m", 4, read_only=True)
    assert not (tmp_path / "nope.sqlite").exists()
    other = tmp_path / "other.sqlite"
    other.write_text("not a database at all " * 100)
    with pytest.raises(SettingsError, match="not a vector store of miko"):
        VectorStore(other, "m", 4, read_only=True)


def test_a_damaged_vector_counts_as_missing_and_a_foreign_file_is_never_written(
        tmp_path: Path) -> None:
    import sqlite3

    model = CountingEmbedder()
    path = tmp_path / "odd ?name#.sqlite"  # URI characters in the path
    store = VectorStore(path, model.model_name, model.dimension)
    store.put(["ok", "short", "nan"], model.embed(["ok", "short", "nan"]))
    store.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE vectors SET vector = ? WHERE key = ?",
               (b"\x00" * 8, text_key("short")))
    db.execute("UPDATE vectors SET vector = ? WHERE key = ?",
               (np.full(4, np.nan, dtype=np.float32).tobytes(), text_key("nan")))
    db.commit()
    db.close()
    reader = StoredEmbedder(model, VectorStore(path, model.model_name, model.dimension,
                                               read_only=True))
    model.asked.clear()
    out = reader.embed(["ok", "short", "nan"])
    assert model.asked == ["short", "nan"] and np.isfinite(out).all()

    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"\x01\x02 not sqlite " * 100)
    before = foreign.read_bytes()
    with pytest.raises(SettingsError, match="not a vector store of miko"):
        VectorStore(foreign, "m", 4)
    assert foreign.read_bytes() == before
