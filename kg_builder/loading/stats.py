"""Counts of what the graph holds, per label and per relation (constant-time count store reads)."""

from __future__ import annotations

from typing import Any

from neo4j import Driver, RoutingControl

from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation
from kg_builder.graph.queries import admin, quality


def graph_stats(driver: Driver, database: str) -> dict[str, Any]:
    """One JSON-ready object: posts, images, intention nodes and edges per relation, key info."""

    def rows(statement: str) -> list[Any]:
        records, _, _ = driver.execute_query(statement, database_=database,
                                             routing_=RoutingControl.READ)
        return list(records)

    def count(statement: str) -> int:
        return int(rows(statement)[0]["n"])

    edges: dict[str, int] = {}
    nodes: dict[str, int] = {}
    labelled: dict[str, dict[str, int]] = {}
    for rel in Relation:
        edges[rel.value] = count(admin.count_relationships(rel.rel_type))
        nodes[rel.value] = count(admin.count_nodes(rel.label))
        labelled[rel.value] = {
            ("unlabelled" if r["label"] is None else str(r["label"])): int(r["n"])
            for r in rows(admin.count_labelled_edges(rel))
        }
    meta = rows(admin.read_embedding_meta())
    [typ] = rows(quality.typicality_summary())
    return {
        "posts": count(admin.count_nodes("Post")),
        "images": count(admin.count_nodes("Image")),
        "intention_nodes": count(admin.count_nodes("Intention")),
        "intention_edges": sum(edges.values()),
        "intention_nodes_per_relation": nodes,
        "intention_edges_per_relation": edges,
        "intention_edges_by_benchmark_label": labelled,
        "key_info_nodes": {kind.value: count(admin.count_nodes(kind.label)) for kind in KeyInfoKind},
        "embedding_model": meta[0]["model"] if meta else None,
        "embedding_dimension": meta[0]["dimension"] if meta else None,
        "typicality": {"scored_edges": int(typ["scored"]),
                       "mean": round(float(typ["mean"]), 4) if typ["mean"] is not None else None,
                       "critic_versions": sorted(v for v in typ["versions"] if v)},
    }


def describe_stats(st: dict[str, Any]) -> list[str]:
    """``graph_stats`` as lines for a terminal."""
    lines = [
        f"posts: {st['posts']}   images: {st['images']}   intention nodes: "
        f"{st['intention_nodes']}   intention edges: {st['intention_edges']}",
        f"embedding model: {st['embedding_model']} ({st['embedding_dimension']} dims)",
        f"{'relation':<10}{'edges':>8}{'nodes':>8}  benchmark labels",
    ]
    for rel, n in st["intention_edges_per_relation"].items():
        labels = st["intention_edges_by_benchmark_label"][rel]
        lines.append(f"{rel:<10}{n:>8}{st['intention_nodes_per_relation'][rel]:>8}  "
                     + ", ".join(f"{k}: {v}" for k, v in sorted(labels.items())))
    lines.append("key information: " + ", ".join(f"{k} {v}" for k, v in st["key_info_nodes"].items()))
    typ = st["typicality"]
    lines.append(f"typicality (critic): {typ['scored_edges']} of {st['intention_edges']} edges scored"
                 + (f", mean {typ['mean']:.3f}, critic {', '.join(typ['critic_versions'])}"
                    if typ["scored_edges"] else " (`miko critic score` scores them)"))
    return lines
