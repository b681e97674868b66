"""Model migration: re-embed the whole graph with the configured model."""

from __future__ import annotations

from neo4j import Driver

from kg_builder.core.settings import IndexOptions
from kg_builder.embeddings.base import Embedder
from kg_builder.graph.queries import read, write
from kg_builder.graph.schema import (
    await_indexes,
    create_vector_indexes,
    drop_vector_indexes,
    record_embedding_model,
)
from kg_builder.loading.index_progress import index_build_bar


def reembed(
    driver: Driver, database: str, embedder: Embedder, batch_size: int = 2000,
    options: IndexOptions | None = None,
) -> dict[str, int]:
    """Drop miko's vector indexes, re-embed every intention tail and post, recreate the indexes."""
    drop_vector_indexes(driver, database)
    counts = {"intentions": 0, "posts": 0}
    for key, page, update in (
        ("intentions", read.intention_tails_page(), write.set_intention_embeddings()),
        ("posts", read.post_texts_page(), write.set_post_embeddings()),
    ):
        after = ""
        while True:
            rows, _, _ = driver.execute_query(page, {"after": after, "limit": batch_size},
                                              database_=database)
            if not rows:
                break
            vectors = embedder.embed([r["text"] for r in rows])
            driver.execute_query(
                update, {"rows": write.Rows({"id": r["id"], "embedding": v.tolist()}
                                            for r, v in zip(rows, vectors, strict=True))},
                database_=database,
            )
            counts[key] += len(rows)
            after = rows[-1]["id"]
    create_vector_indexes(driver, database, embedder.dimension, options)
    record_embedding_model(driver, database, embedder.model_name, embedder.dimension)
    with index_build_bar(None) as report:  # on a terminal
        await_indexes(driver, database, progress=report)
    return counts
