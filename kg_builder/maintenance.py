"""Model migration: re-embed the whole graph with the configured model."""

from __future__ import annotations

from neo4j import Driver

from kg_builder import queries
from kg_builder.embeddings import Embedder
from kg_builder.graph import await_indexes, schema_statements


def reembed(driver: Driver, database: str, embedder: Embedder, batch_size: int = 2000) -> dict[str, int]:
    """Drop the vector indexes, re-embed every intention tail and post, recreate the indexes."""
    records, _, _ = driver.execute_query(queries.vector_index_names(), database_=database)
    for name in records[0]["names"]:
        driver.execute_query(queries.drop_index(), {"name": name}, database_=database)
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
                write, {"rows": [{"id": r["id"], "embedding": v.tolist()}
                                 for r, v in zip(rows, vectors, strict=True)]},
                database_=database,
            )
            counts[key] += len(rows)
            after = rows[-1]["id"]
    for statement in schema_statements():
        if "VECTOR INDEX" in statement:
            driver.execute_query(statement, {"dimension": embedder.dimension}, database_=database)
    driver.execute_query(queries.write_embedding_meta(),
                         {"model": embedder.model_name, "dimension": embedder.dimension},
                         database_=database)
    await_indexes(driver, database)
    return counts
