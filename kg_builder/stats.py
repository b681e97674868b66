"""Counts of what the graph holds, per label and per relation (constant-time count store reads)."""

from __future__ import annotations

from typing import Any

from neo4j import Driver, RoutingControl

from kg_builder import queries
from kg_builder.relations import Relation


def graph_stats(driver: Driver, database: str) -> dict[str, Any]:
    """One JSON-ready object: posts, images, intention nodes and edges per relation, key info."""

    def count(statement: str) -> int:
        records, _, _ = driver.execute_query(statement, database_=database, routing_=RoutingControl.READ)
        return int(records[0]["n"])

    edges: dict[str, int] = {}
    nodes: dict[str, int] = {}
    labelled: dict[str, dict[str, int]] = {}
    for rel in Relation:
        edges[rel.value] = count(queries.count_relationships(rel.rel_type))
        nodes[rel.value] = count(queries.count_nodes(rel.label))
        records, _, _ = driver.execute_query(
            queries.count_labelled_edges(rel), database_=database, routing_=RoutingControl.READ
        )
        labelled[rel.value] = {
            ("unlabelled" if r["label"] is None else str(r["label"])): int(r["n"]) for r in records
        }
    key_info = {
        kind: count(queries.count_nodes(label)) for kind, (label, _) in queries.KEY_INFO_LABELS.items()
    }
    meta, _, _ = driver.execute_query(
        queries.read_embedding_meta(), database_=database, routing_=RoutingControl.READ
    )
    return {
        "posts": count(queries.count_nodes("Post")),
        "images": count(queries.count_nodes("Image")),
        "intention_nodes": count(queries.count_nodes("Intention")),
        "intention_edges": sum(edges.values()),
        "intention_nodes_per_relation": nodes,
        "intention_edges_per_relation": edges,
        "intention_edges_by_benchmark_label": labelled,
        "key_info_nodes": key_info,
        "embedding_model": meta[0]["model"] if meta else None,
        "embedding_dimension": meta[0]["dimension"] if meta else None,
    }
