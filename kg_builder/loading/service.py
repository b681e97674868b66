"""What the CLI (and ``miko up``) call to change or inspect the graph: each opens the driver,
applies the schema where needed, runs, and closes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kg_builder.core.settings import Settings
from kg_builder.embeddings import load_embedder
from kg_builder.embeddings.base import Embedder
from kg_builder.embeddings.store import StoredEmbedder, VectorStore
from kg_builder.graph.driver import graph
from kg_builder.graph.queries import admin
from kg_builder.graph.schema import init_schema
from kg_builder.inputs.readers import ReadItem
from kg_builder.loading.loader import GraphLoader, LoadSummary
from kg_builder.loading.maintenance import reembed
from kg_builder.loading.stats import describe_stats, graph_stats


def init_graph(settings: Settings, embedder: Embedder | None = None) -> tuple[list[str], Embedder]:
    """Apply the schema (idempotent); returns the statements applied and the embedder."""
    embedder = embedder or load_embedder(settings)
    with graph(settings) as driver:
        applied = init_schema(driver, settings.neo4j_database, embedder.model_name,
                              embedder.dimension, settings.index_options)
    return applied, embedder


def load_records(settings: Settings, items: Iterable[ReadItem], *, progress: bool | None = None,
                 defer_indexes: bool | None = None, embedder: Embedder | None = None,
                 bulk: bool = False, vectors: Path | None = None,
                 after_writes: Callable[[], object] | None = None) -> LoadSummary:
    """Apply the schema and load every record; rejections are in the summary, never raised.

    ``defer_indexes``: drop miko's vector indexes during the load and rebuild them afterwards
    (None: only when the graph holds no post yet). ``bulk``: a first load into an empty
    database through the server's importer (``BulkLoader``; refuses a database with content).
    ``vectors``: a vector store written by `miko build --engine ray` (read only): the texts it
    holds are not embedded again; the others are, by the model. ``after_writes``: run when
    the records are written, before deferred vector indexes are built (the critic's scoring).
    """
    model = embedder or load_embedder(settings)
    stored = None
    if vectors is not None:
        stored = StoredEmbedder(model, VectorStore(vectors, model.model_name, model.dimension,
                                                   read_only=True))
    used: Embedder = stored or model
    try:
        if bulk:
            from kg_builder.loading.bulk import BulkLoader

            summary = BulkLoader(settings, used, settings.write_batch_size).load(
                items, progress=progress, after_writes=after_writes)
        else:
            with graph(settings) as driver:
                init_schema(driver, settings.neo4j_database, used.model_name, used.dimension,
                            settings.index_options)
                loader = GraphLoader(driver, used, settings.neo4j_database,
                                     settings.write_batch_size, defer_vector_indexes=defer_indexes,
                                     index_options=settings.index_options, model_checked=True)
                summary = loader.load(items, progress=progress, after_writes=after_writes)
    finally:
        if stored is not None:
            stored.store.close()
    if stored is not None:
        summary.vectors = stored.describe()
    return summary


def reembed_graph(settings: Settings) -> tuple[dict[str, int], Embedder]:
    """Re-embed every post and intention with the configured model (``miko db reembed``)."""
    embedder = load_embedder(settings)
    with graph(settings) as driver:
        counts = reembed(driver, settings.neo4j_database, embedder, settings.write_batch_size,
                         settings.index_options)
    return counts, embedder


def stats(settings: Settings) -> dict[str, Any]:
    """``graph_stats`` of the configured graph."""
    with graph(settings) as driver:
        return graph_stats(driver, settings.neo4j_database)


def graph_is_empty(settings: Settings) -> bool:
    """Whether the database holds no node but miko's embedding-model record (a bulk import,
    which replaces the whole store, may run)."""
    with graph(settings) as driver:
        records, _, _ = driver.execute_query(admin.count_foreign_nodes(),
                                             database_=settings.neo4j_database)
    return int(records[0]["n"]) == 0


__all__ = ["describe_stats", "graph_is_empty", "init_graph", "load_records", "reembed_graph",
           "stats"]
