"""The Ray embedding stage's batch function: what it embeds, what it skips, what it refuses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kg_builder.core.models import IntentionRecord, PostRecord
from kg_builder.core.relations import Relation
from kg_builder.embeddings.base import Vectors
from kg_builder.embeddings.store import StoredEmbedder, VectorStore
from kg_builder.generation.ray_engine import EmbedBatch


class PickyEmbedder:
    """Refuses any text containing BAD, as a tokenizer refuses what it cannot take."""

    model_name = "picky"
    dimension = 3

    def embed(self, texts: Sequence[str]) -> Vectors:
        if any("BAD" in t for t in texts):
            raise ValueError("cannot take this text")
        return np.tile(np.array([1.0, 0.0, 0.0], dtype=np.float32), (len(texts), 1))


def stage(tmp_path: Path) -> EmbedBatch:
    batch = EmbedBatch.__new__(EmbedBatch)  # the model-loading constructor is the only part skipped
    model = PickyEmbedder()
    batch.embedder = StoredEmbedder(model, VectorStore(tmp_path / "v.sqlite", model.model_name,
                                                       model.dimension), write=True)
    return batch


def post(pid: str, text: str, tails: list[str]) -> str:
    intentions = [IntentionRecord(relation=Relation.X_INTENT, text=t) for t in tails]
    assert [i.tail for i in intentions] == tails  # no template: the tail is the text
    return PostRecord(id=pid, text=text, source="test",
                      intentions=intentions).model_dump_json()


def test_the_stage_embeds_texts_and_tails_once_and_keeps_the_rows(tmp_path: Path) -> None:
    run = stage(tmp_path)
    rows = {"id": ["a", "b", "c"], "built": [post("a", "hello", ["to eat", "to sleep"]),
                                            post("b", "hello", ["to eat"]), ""]}
    out = run(rows)
    assert out["id"] == ["a", "b", "c"] and out["built"] == rows["built"]  # passed on as they were
    assert (out["vectors_embedded"], out["vectors_found"], out["vectors_refused"]) == \
        ([3, 0, 0], [0, 0, 0], [0, 0, 0])  # hello, to eat, to sleep; the dead-lettered row: none
    again = run({"id": ["d"], "built": [post("d", "hello", ["to eat", "to run"])]})
    assert (again["vectors_embedded"], again["vectors_found"]) == ([1], [2])
    assert len(run.embedder.store) == 4


def test_a_refused_text_is_left_to_the_load_and_the_others_are_stored(tmp_path: Path) -> None:
    run = stage(tmp_path)
    out = run({"id": ["a"], "built": [post("a", "BAD text", ["to eat", "to sleep"])]})
    assert (out["vectors_embedded"], out["vectors_refused"]) == ([2], [1])
    assert sorted(run.embedder.store.get(["BAD text", "to eat", "to sleep"])) == \
        ["to eat", "to sleep"]
