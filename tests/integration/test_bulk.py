"""The bulk path (`--bulk`: import files + neo4j-admin import) against the real scratch server:
the same graph as the online loader from the same records, and refusals that touch nothing."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from tests.conftest import wipe

pytestmark = pytest.mark.graph

# Everything of the graph but the critic's scores' times: nodes with labels and properties,
# edges with type, ends and properties; embeddings compared apart, within 1e-8 (the import files
# write 9 decimals: within 5e-10 of the float32 values the online loader stores).
NODES = ("MATCH (n) WHERE NOT n:KGMeta "
         "RETURN labels(n) AS labels, properties(n) AS props ORDER BY coalesce(n.id, n.name)")
EDGES = ("MATCH (a)-[r]->(b) RETURN type(r) AS type, coalesce(a.id, a.name) AS a, "
         "coalesce(b.id, b.name) AS b, properties(r) AS props ORDER BY type, a, b")


def snapshot(driver: Any, database: str) -> dict[str, list[Any]]:
    vectors: list[Any] = []

    def clean(props: dict[str, Any]) -> dict[str, Any]:
        out = dict(props)
        if "embedding" in out:
            vectors.append(np.asarray(out.pop("embedding"), dtype=np.float64))
        return out

    nodes, _, _ = driver.execute_query(NODES, database_=database)
    edges, _, _ = driver.execute_query(EDGES, database_=database)
    return {"nodes": [(sorted(r["labels"]), clean(r["props"])) for r in nodes],
            "edges": [(r["type"], r["a"], r["b"], clean(r["props"])) for r in edges],
            "vectors": vectors}


def same_vectors(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and float(np.abs(x - y).max()) <= 1e-8 for x, y in zip(a, b, strict=True))


def test_bulk_and_online_make_the_same_graph_and_bulk_refuses_a_graph_with_content(
        driver: Any, settings: Any, data_dir: Any, empty_graph: Any) -> None:
    from neo4j import GraphDatabase

    from kg_builder.graph.driver import connect

    release = str(data_dir / "miko" / "train.json")  # every kind of node and edge
    runner = CliRunner()
    try:
        bulk = runner.invoke(main, ["load-release", release, "--bulk", "--json"])
        assert bulk.exit_code == 0, bulk.output
        loaded = json.loads(bulk.output[bulk.output.index("{"):])
        assert loaded["load"]["deferred_indexes"] and loaded["load"]["posts_loaded"] > 700
        bulk_stats = json.loads(runner.invoke(main, ["stats", "--json"]).output)
        with connect(settings) as fresh:  # the store is new: a driver of before waits in vain
            bulk_graph = snapshot(fresh, settings.neo4j_database)
            indexes, _, _ = fresh.execute_query(
                "SHOW INDEXES YIELD name, type, state WHERE type <> 'LOOKUP' RETURN name, state",
                database_=settings.neo4j_database)
        from kg_builder.graph.queries.admin import our_constraints, our_indexes

        # every index and constraint of the schema (the two vector indexes included), online
        assert {r["name"] for r in indexes} == set(our_indexes()) | set(our_constraints())
        assert {r["state"] for r in indexes} == {"ONLINE"}

        # A second --bulk: refused with the reason and the way out; nothing changes.
        again = runner.invoke(main, ["load-release", release, "--bulk"])
        assert again.exit_code == 1
        assert "holds" in again.output and "Load without --bulk" in again.output
        assert json.loads(runner.invoke(main, ["stats", "--json"]).output) == bulk_stats

        with connect(settings) as fresh:
            wipe(fresh, settings.neo4j_database)
        online = runner.invoke(main, ["load-release", release, "--json"])
        assert online.exit_code == 0, online.output
        assert json.loads(runner.invoke(main, ["stats", "--json"]).output) == bulk_stats
        with connect(settings) as fresh:
            online_graph = snapshot(fresh, settings.neo4j_database)
        assert len(online_graph["nodes"]) == len(bulk_graph["nodes"]) > 9000
        assert len(online_graph["vectors"]) > 8000
        assert same_vectors(online_graph.pop("vectors"), bulk_graph.pop("vectors"))
        assert online_graph == bulk_graph
    finally:
        # The session's driver remembers transactions of the store the import replaced.
        driver._query_bookmark_manager = GraphDatabase.bookmark_manager()
