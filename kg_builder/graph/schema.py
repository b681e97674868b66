"""Applying the schema (``schema/neo4j.cypher``), its vector indexes, and the embedding-model record."""

from __future__ import annotations

from typing import Any

from neo4j import Driver, RoutingControl

from kg_builder.core.errors import EmbeddingModelMismatchError
from kg_builder.core.settings import IndexOptions
from kg_builder.graph.queries import admin
from kg_builder.graph.queries.admin import our_vector_indexes, schema_statements


def check_embedding_meta(driver: Driver, database: str, model: str, dimension: int) -> None:
    """Raise EmbeddingModelMismatchError if the graph records another model or dimension."""
    records, _, _ = driver.execute_query(
        admin.read_embedding_meta(), database_=database, routing_=RoutingControl.READ)
    if records and (error := EmbeddingModelMismatchError.check(
            records[0]["model"], records[0]["dimension"], model, dimension)):
        raise error


def _schema_params(dimension: int, options: IndexOptions | None) -> dict[str, Any]:
    opts = options or IndexOptions()
    return {"dimension": dimension, "hnsw_m": opts.hnsw_m,
            "hnsw_ef_construction": opts.hnsw_ef_construction}


def init_schema(
    driver: Driver, database: str, model: str, dimension: int,
    options: IndexOptions | None = None, vector_indexes: bool = True,
) -> list[str]:
    """Apply constraints and indexes (idempotent) and record the embedding model.

    Raises EmbeddingModelMismatchError, before changing anything, if the graph records another model.
    """
    check_embedding_meta(driver, database, model, dimension)
    applied = []
    params = _schema_params(dimension, options)
    for statement in schema_statements():
        if not vector_indexes and "VECTOR INDEX" in statement:
            continue
        driver.execute_query(statement, params, database_=database)
        applied.append(statement.split("IF NOT EXISTS")[0].strip())
    record_embedding_model(driver, database, model, dimension)
    return applied


def record_embedding_model(driver: Driver, database: str, model: str, dimension: int) -> None:
    driver.execute_query(admin.write_embedding_meta(), {"model": model, "dimension": dimension},
                         database_=database)


def create_vector_indexes(
    driver: Driver, database: str, dimension: int, options: IndexOptions | None = None
) -> None:
    """(Re)create the vector indexes of the schema file; Neo4j populates them in the background."""
    params = _schema_params(dimension, options)
    for statement in schema_statements():
        if "VECTOR INDEX" in statement:
            driver.execute_query(statement, params, database_=database)


def drop_vector_indexes(driver: Driver, database: str) -> list[str]:
    """Drop miko's vector indexes (for a bulk load, or a model migration); returns their names.

    Vector indexes of other applications in the same database are left alone.
    """
    records, _, _ = driver.execute_query(admin.vector_index_names(), {"names": our_vector_indexes()},
                                         database_=database)
    names: list[str] = list(records[0]["names"])
    for name in names:
        driver.execute_query(admin.drop_index(), {"name": name}, database_=database)
    return names


def await_indexes(driver: Driver, database: str, timeout_s: float = 600.0) -> None:
    """Wait until every index is online (or raise after ``timeout_s``)."""
    driver.execute_query(admin.await_indexes(), {"timeout_s": int(timeout_s)}, database_=database)


def index_states(driver: Driver, database: str) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(admin.index_states(), database_=database)
    return [dict(r) for r in records]
