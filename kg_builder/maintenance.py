"""Model migration: re-embed the whole graph with the configured model."""

from __future__ import annotations

from neo4j import Driver

from kg_builder import queries
from kg_builder.embeddings import Embedder
from kg_builder.graph import await_indexes, create_vector_indexes, drop_vector_indexes
from kg_builder.settings import IndexOptions


def reembed(
    driver: Driver, database: str, embedder: Embedder, batch_size: int = 2000,
    options: IndexOptions | None = None,
) -> dict[str, int]:
    """Drop the vector indexes, re-embed every intention tail and post, recreate the indexes."""
    drop_vector_indexes(driver, database)
    counts = {"intentions": 0, "posts": 0}
    for key, page, write in (
        ("intentions", queries.intention_tails_page(), queries.set_intention_embeddings()),
        ("posts", queries.post_texts_page(), queries.set_post_embeddings()),
    ):
        after = ""
        while True:
            rows, _, _ = driver.execute_query(page, {"after": after, "limit": batch_size},
                                              database_=database)
            if not rows:
                break
            vectors = embedder.embed([r["text"] for r in rows])
            driver.execute_query(
                write, {"rows": queries.Rows({"id": r["id"], "embedding": v.tolist()}
                                             for r, v in zip(rows, vectors, strict=True))},
                database_=database,
            )
            counts[key] += len(rows)
            after = rows[-1]["id"]
    create_vector_indexes(driver, database, embedder.dimension, options)
    driver.execute_query(queries.write_embedding_meta(),
                         {"model": embedder.model_name, "dimension": embedder.dimension},
                         database_=database)
    await_indexes(driver, database)
    return counts
