"""Connecting to Neo4j, applying the schema, and guarding the embedding model recorded in it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import neo4j
from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError, ServiceUnavailable

from kg_builder import queries
from kg_builder.errors import EmbeddingModelMismatchError, Neo4jUnavailableError
from kg_builder.relations import Relation
from kg_builder.settings import IndexOptions, Settings

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "neo4j.cypher"


def connect(settings: Settings) -> Driver:
    """A verified driver for the configured server, or a clear error saying how to get one."""
    driver = GraphDatabase.driver(
        settings.bolt_uri,
        auth=(settings.neo4j_user, settings.neo4j_password.get_secret_value()),
        connection_timeout=settings.neo4j_connect_timeout_s,
        notifications_min_severity="OFF",
    )
    try:
        driver.verify_connectivity()
    except AuthError as exc:
        driver.close()
        raise Neo4jUnavailableError(
            f"Neo4j at {settings.bolt_uri} refused user {settings.neo4j_user!r}: check "
            "MIKO_NEO4J_USER / MIKO_NEO4J_PASSWORD"
        ) from exc
    except (ServiceUnavailable, OSError) as exc:
        driver.close()
        hint = "run `miko neo4j start`" if settings.managed else "check MIKO_NEO4J_URI"
        raise Neo4jUnavailableError(
            f"Neo4j does not answer at {settings.bolt_uri}: {hint}"
        ) from exc
    return driver


def schema_statements(path: Path = SCHEMA_FILE) -> list[str]:
    """The statements of the schema file, comments removed."""
    text = path.read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    return [s.strip() for s in re.split(r";\s*$", text, flags=re.MULTILINE) if s.strip()]


def vector_index_for(relation: Relation | None) -> str:
    """Name of the vector index to search: per relation, or over all intentions."""
    return "intention_embedding" if relation is None else f"intention_embedding_{relation.label.lower()}"


def check_embedding_meta(driver: Driver, database: str, model: str, dimension: int) -> None:
    """Raise if the graph records another embedding model or dimension than the given one."""
    records, _, _ = driver.execute_query(
        queries.read_embedding_meta(), database_=database, routing_=neo4j.RoutingControl.READ
    )
    if records:
        have_model, have_dim = records[0]["model"], records[0]["dimension"]
        if have_model != model or have_dim != dimension:
            raise EmbeddingModelMismatchError(
                f"the graph was built with embedding model {have_model!r} ({have_dim} dims) but "
                f"the configured model is {model!r} ({dimension} dims). Set MIKO_EMBEDDING_MODEL="
                f"{have_model} to use the graph as is, or run `miko db reembed` to re-embed every "
                "post and intention with the configured model and rebuild the vector indexes"
            )


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
    driver.execute_query(
        queries.write_embedding_meta(), {"model": model, "dimension": dimension}, database_=database
    )
    return applied


def create_vector_indexes(
    driver: Driver, database: str, dimension: int, options: IndexOptions | None = None
) -> None:
    """(Re)create the vector indexes of the schema file; Neo4j populates them in the background."""
    params = _schema_params(dimension, options)
    for statement in schema_statements():
        if "VECTOR INDEX" in statement:
            driver.execute_query(statement, params, database_=database)


def drop_vector_indexes(driver: Driver, database: str) -> list[str]:
    """Drop every vector index (for a bulk load, or a model migration); returns their names."""
    records, _, _ = driver.execute_query(queries.vector_index_names(), database_=database)
    names: list[str] = list(records[0]["names"])
    for name in names:
        driver.execute_query(queries.drop_index(), {"name": name}, database_=database)
    return names


def await_indexes(driver: Driver, database: str, timeout_s: float = 600.0) -> None:
    driver.execute_query(
        "CALL db.awaitIndexes($t)", {"t": int(timeout_s)}, database_=database
    )


def index_states(driver: Driver, database: str) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(queries.index_states(), database_=database)
    return [dict(r) for r in records]
