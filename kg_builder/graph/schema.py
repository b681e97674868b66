"""Applying the schema (``schema/neo4j.cypher``), its vector indexes, and the embedding-model record."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from neo4j import Driver, RoutingControl

from kg_builder.core.errors import EmbeddingModelMismatchError, IndexBuildError
from kg_builder.core.settings import IndexOptions
from kg_builder.graph.queries import admin, write
from kg_builder.graph.queries.admin import our_indexes, our_vector_indexes, schema_statements

# Building the global vector index over the paper's 1.36M intentions took 18 minutes on a fast
# 2-core VM and 55 on a slower one shared with a test run (BENCHMARKS.md); 10x the graph takes
# hours. A build that is still going is not a failure: the wait polls and reports progress, and
# gives up only after this long (the build then goes on in the server).
INDEX_BUILD_TIMEOUT_S = 24 * 3600.0
INDEX_POLL_S = 5.0
INDEX_POLL_FIRST_S = 0.05  # the first re-check: a small build is over in well under a second
IndexProgress = Callable[[list[tuple[str, float]]], None]  # (name, percent) still populating


def recorded_embedding_model(driver: Driver, database: str) -> tuple[str, int] | None:
    """The embedding model and dimension the graph records (None: nothing loaded yet)."""
    records, _, _ = driver.execute_query(
        admin.read_embedding_meta(), database_=database, routing_=RoutingControl.READ)
    return (str(records[0]["model"]), int(records[0]["dimension"])) if records else None


def check_embedding_meta(driver: Driver, database: str, model: str, dimension: int) -> None:
    """Raise EmbeddingModelMismatchError if the graph records another model or dimension."""
    recorded = recorded_embedding_model(driver, database)
    if recorded and (error := EmbeddingModelMismatchError.check(*recorded, model, dimension)):
        raise error


def _schema_params(dimension: int, options: IndexOptions | None) -> dict[str, Any]:
    opts = options or IndexOptions()
    return {"dimension": dimension, "hnsw_m": opts.hnsw_m,
            "hnsw_ef_construction": opts.hnsw_ef_construction, "quantization": opts.quantization}


def init_schema(
    driver: Driver, database: str, model: str, dimension: int,
    options: IndexOptions | None = None, vector_indexes: bool = True,
) -> list[str]:
    """Apply constraints and indexes (idempotent) and record the embedding model.

    Raises EmbeddingModelMismatchError, before changing anything, if the graph records another model.
    """
    check_embedding_meta(driver, database, model, dimension)
    applied = [f"dropped the outdated vector index {name}"
               for name in retire_vector_indexes(driver, database)
               ] if vector_indexes else []
    params = _schema_params(dimension, options)
    statements = schema_statements()
    for statement in (s for s in statements if "VECTOR INDEX" not in s):
        driver.execute_query(statement, params, database_=database)
        applied.append(statement.split("IF NOT EXISTS")[0].strip())
    # Before the vector indexes: a post given its has_image now is indexed once, not twice.
    if backfilled := backfill_has_image(driver, database):
        applied.append(f"has_image set on {backfilled:,} posts loaded before it was stored")
    for statement in (s for s in statements if vector_indexes and "VECTOR INDEX" in s):
        driver.execute_query(statement, params, database_=database)
        applied.append(statement.split("IF NOT EXISTS")[0].strip())
    record_embedding_model(driver, database, model, dimension)
    return applied


def backfill_has_image(driver: Driver, database: str, page: int = 10_000) -> int:
    """Give every post without ``has_image`` one (posts of an older graph), in pages."""
    done = 0
    while True:
        records, _, _ = driver.execute_query(write.backfill_has_image(), {"limit": page},
                                             database_=database)
        n = int(records[0]["n"])
        done += n
        if n < page:
            return done


def record_embedding_model(driver: Driver, database: str, model: str, dimension: int) -> None:
    driver.execute_query(admin.write_embedding_meta(), {"model": model, "dimension": dimension},
                         database_=database)


def create_vector_indexes(
    driver: Driver, database: str, dimension: int, options: IndexOptions | None = None
) -> None:
    """(Re)create the vector indexes of the schema file; Neo4j populates them in the background."""
    retire_vector_indexes(driver, database)
    params = _schema_params(dimension, options)
    for statement in schema_statements():
        if "VECTOR INDEX" in statement:
            driver.execute_query(statement, params, database_=database)


def retire_vector_indexes(driver: Driver, database: str) -> list[str]:
    """Drop miko's vector indexes that the schema no longer has in that form: the per-relation
    ones of earlier versions, and ours whose filter properties differ from the schema's (so that
    ``CREATE ... IF NOT EXISTS`` makes the current one). Returns their names."""
    wanted = admin.vector_index_properties()
    records, _, _ = driver.execute_query(
        admin.vector_index_definitions(),
        {"names": [*wanted, *admin.LEGACY_VECTOR_INDEXES]}, database_=database)
    stale = sorted(r["name"] for r in records if (name := r["name"]) not in wanted
                   or list(r["properties"])[:1] != wanted[name][:1]
                   or set(r["properties"]) != set(wanted[name]))
    for name in stale:
        driver.execute_query(admin.drop_index(), {"name": name}, database_=database)
    return stale


def drop_vector_indexes(driver: Driver, database: str) -> list[str]:
    """Drop miko's vector indexes (for a bulk load, or a model migration); returns their names.

    Vector indexes of other applications in the same database are left alone.
    """
    records, _, _ = driver.execute_query(
        admin.vector_index_names(), {"names": [*our_vector_indexes(), *admin.LEGACY_VECTOR_INDEXES]},
        database_=database)
    names: list[str] = list(records[0]["names"])
    for name in names:
        driver.execute_query(admin.drop_index(), {"name": name}, database_=database)
    return names


def await_indexes(driver: Driver, database: str, timeout_s: float = INDEX_BUILD_TIMEOUT_S,
                  progress: IndexProgress | None = None, poll_s: float = INDEX_POLL_S) -> None:
    """Wait until miko's indexes are online, polling their state (first after 50 ms, the pause
    doubling up to ``poll_s``: a small build is not rounded up to the next 5 s, a long one is not
    polled needlessly) and telling ``progress`` which are still populating (another
    application's indexes are not waited for).

    Raises IndexBuildError when one of them failed, or when some are still populating after
    ``timeout_s`` (naming them and how far they are).
    """
    names = our_indexes()
    deadline = time.monotonic() + timeout_s
    pauses = poll_pauses(poll_s)
    while True:
        records, _, _ = driver.execute_query(admin.index_progress(), {"names": names},
                                             database_=database)  # where they were created
        failed = sorted(r["name"] for r in records if r["state"] == "FAILED")
        if failed:
            raise IndexBuildError(
                f"the index(es) {', '.join(failed)} failed to build (the Neo4j server's "
                "debug.log says why); drop them (in Neo4j Browser) and run `miko db init` to build "
                "them again")
        pending = sorted((r["name"], float(r["populationPercent"] or 0.0)) for r in records
                         if r["state"] != "ONLINE")
        if not pending:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            building = ", ".join(f"{name} ({percent:.0f}%)" for name, percent in pending)
            raise IndexBuildError(
                f"indexes still building after {timeout_s:.0f} s: {building}. The data is "
                "written and the server goes on building them; searches use them once they are "
                "online (`:schema` in Neo4j Browser and the API's /readyz list their states)")
        if progress is not None:
            progress(pending)
        time.sleep(min(next(pauses), left))


def poll_pauses(longest_s: float, first_s: float = INDEX_POLL_FIRST_S) -> Iterator[float]:
    """The pauses between two looks at the index states: ``first_s``, doubling, then ``longest_s``."""
    pause = min(first_s, longest_s)
    while True:
        yield pause
        pause = min(pause * 2, longest_s)


def index_states(driver: Driver, database: str) -> list[dict[str, Any]]:
    records, _, _ = driver.execute_query(admin.index_states(), database_=database)
    return [dict(r) for r in records]
