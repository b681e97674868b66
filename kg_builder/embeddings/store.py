"""Vectors computed ahead of the load: a content-addressed store of sentence embeddings.

`miko build --engine ray` embeds what the loader will embed (each built post's text and its
intentions' tails) as a Ray Data stage, into ``<out>.run/vectors.sqlite``; `miko load --vectors`
then reads them instead of running the model. Key = sha256 of the text (16 bytes); value = the
float32 vector. The store is for one model and dimension, recorded in it: another model's store
is refused, never mixed in. Several processes may write it at once (SQLite WAL, a writer waits
for the lock), and a text already stored is never embedded twice, so a rerun pays for nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kg_builder.core.errors import EmbeddingModelMismatchError, SettingsError
from kg_builder.embeddings.base import Embedder, Vectors

LOOKUP_CHUNK = 500  # keys per SELECT (SQLite's default limit on host parameters is 32,766)


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class VectorStore:
    """Vectors by text for one embedding model; ``read_only`` opens an existing store only."""

    def __init__(self, path: Path, model_name: str, dimension: int,
                 read_only: bool = False) -> None:
        self.path = path
        self.dimension = dimension
        if read_only:
            if not path.is_file():
                raise SettingsError(
                    f"no vector store at {path}: give the vectors.sqlite that `miko build "
                    "--engine ray` wrote in the run folder (<out>.run/vectors.sqlite), or leave "
                    "out --vectors to embed while loading")
            # a URI (percent-encoded by as_uri) so that no character of the path is read as
            # a URI parameter
            self._db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True,
                                       timeout=60, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, timeout=60,
                                       check_same_thread=False)
        try:
            if not read_only:
                self._create(model_name, dimension)
            row = self._db.execute("SELECT model, dimension FROM meta").fetchone()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise SettingsError(f"{path} is not a vector store of miko ({exc})") from exc
        if row is None or (str(row[0]), int(row[1])) != (model_name, dimension):
            self._db.close()
            raise EmbeddingModelMismatchError(
                f"the vectors in {path} are of {row[0] if row else 'no'} model "
                f"({row[1] if row else 0} dimensions), the loader embeds with {model_name} "
                f"({dimension}): set MIKO_EMBEDDING_MODEL to the store's model, or leave out "
                "--vectors")

    def _create(self, model_name: str, dimension: int) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (model TEXT NOT NULL, "
                         "dimension INTEGER NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, "
                         "vector BLOB NOT NULL) WITHOUT ROWID")
        self._db.execute("BEGIN IMMEDIATE")
        if self._db.execute("SELECT count(*) FROM meta").fetchone()[0] == 0:
            self._db.execute("INSERT INTO meta VALUES (?, ?)", (model_name, dimension))
        self._db.execute("COMMIT")

    def get(self, texts: Sequence[str]) -> dict[str, Vectors]:
        """The stored vectors of those texts that have one (a vector of the wrong size or not
        finite counts as none: the model embeds that text again)."""
        by_key = {text_key(t): t for t in texts}
        keys = list(by_key)
        found: dict[str, Vectors] = {}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start:start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk):
                if len(blob) != self.dimension * 4:
                    continue
                vector = np.frombuffer(blob, dtype=np.float32)
                if np.isfinite(vector).all():
                    found[by_key[bytes(key)]] = vector
        return found

    def put(self, texts: Sequence[str], vectors: Vectors) -> None:
        rows = [(text_key(t), np.asarray(v, dtype=np.float32).tobytes())
                for t, v in zip(texts, vectors, strict=True)]
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?)", rows)
        self._db.execute("COMMIT")

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class StoredEmbedder:
    """An embedder that answers from a vector store and runs the model only for the texts the
    store lacks (adding them to it unless it is read-only). Counts both, for the hit rate."""

    def __init__(self, inner: Embedder, store: VectorStore, write: bool = False) -> None:
        if store.dimension != inner.dimension:  # pragma: no cover - checked by the store
            raise EmbeddingModelMismatchError("store and model dimensions differ")
        self.inner = inner
        self.store = store
        self.write = write
        self.hits = 0
        self.misses = 0

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        found = self.store.get(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = self.inner.embed(missing)
            if self.write:
                self.store.put(missing, vectors)
            found.update(zip(missing, vectors, strict=True))
        absent = set(missing)
        misses = sum(1 for t in texts if t in absent)
        self.hits += len(texts) - misses
        self.misses += misses
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = found[text]
        return out

    def describe(self) -> str:
        asked = self.hits + self.misses
        rate = self.hits / asked if asked else 0.0
        return (f"vectors from {self.store.path}: {self.hits:,} of {asked:,} texts "
                f"(hit rate {rate:.1%}); {self.misses:,} embedded by the model")
