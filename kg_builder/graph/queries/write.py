"""Cypher that changes the graph's content: loading, pruning stale intentions, re-embedding.

Embeddings are written with ``db.create.setNodeVectorProperty``, which stores them as float32
arrays: half the store size of a plain ``SET`` of a float list, and faster to write.
"""

from __future__ import annotations

from typing import Any

from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation


class Rows(list[dict[str, Any]]):
    """The ``$rows`` (or ``$keys``) of an ``UNWIND`` statement.

    The neo4j Python driver (5.x and 6.x) formats ``repr()`` of every RUN's parameters for a debug
    log line even when debug logging is off; for 2,000 rows of 384-float embeddings that
    formatting took 90% of the client's CPU time. A short ``repr`` makes vector writes ~4x faster.
    """

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


# --- writes -----------------------------------------------------------------------------

def merge_posts() -> str:
    """Posts by id; a record that lacks a split or benchmark labels keeps the stored ones.
    ``has_image`` (a filter property of the post vector index) is false until an image is
    merged for the post."""
    return (
        "UNWIND $rows AS row "
        "MERGE (p:Post {id: row.id}) "
        "SET p.text = row.text, p.source = row.source, p.split = coalesce(row.split, p.split), "
        "p.benchmark_labels = coalesce(row.benchmark_labels, p.benchmark_labels), "
        "p.has_image = coalesce(p.has_image, false), p += row.extra "
        "WITH p, row WHERE row.embedding IS NOT NULL "
        "CALL db.create.setNodeVectorProperty(p, 'embedding', row.embedding)"
    )


def backfill_has_image() -> str:
    """A page of posts loaded before ``has_image`` was stored (a filter property of the post
    vector index): set from their images."""
    return ("MATCH (p:Post) WHERE p.has_image IS NULL WITH p LIMIT $limit "
            "SET p.has_image = EXISTS { (p)-[:HAS_IMAGE]->() } RETURN count(p) AS n")


def merge_images() -> str:
    """Images by id (content hash, else file name), shared by every post that shows them.

    A description is written for one post's text, so it is kept on that post's ``HAS_IMAGE``
    relationship, never on the shared node.
    """
    return (
        "UNWIND $rows AS row "
        "MATCH (p:Post {id: row.post}) "
        "MERGE (img:Image {id: row.id}) "
        "SET img.file = coalesce(row.file, img.file), img.sha256 = coalesce(row.sha256, img.sha256) "
        "MERGE (p)-[r:HAS_IMAGE]->(img) "
        "SET r.description = coalesce(row.description, r.description), p.has_image = true"
    )


def merge_key_info(kind: KeyInfoKind) -> str:
    return (
        "UNWIND $rows AS row "
        "MATCH (p:Post {id: row.post}) "
        f"MERGE (k:{kind.label} {{name: row.name}}) ON CREATE SET k.display = row.display "
        f"MERGE (p)-[:{kind.rel_type}]->(k)"
    )


def merge_intentions(relation: Relation) -> str:
    """Intention nodes of one relation; the relation label comes from the enum."""
    return (
        "UNWIND $rows AS row "
        "MERGE (i:Intention {id: row.id}) "
        f"ON CREATE SET i:{relation.label}, i.relation = $relation, i.text = row.text, "
        "i.tail = row.tail "
        "WITH i, row WHERE row.embedding IS NOT NULL "
        "CALL db.create.setNodeVectorProperty(i, 'embedding', row.embedding)"
    )


def prune_stale_intention_edges() -> str:
    """A post record that carries intentions replaces that post's intentions from its source.

    Edges from the post to intentions of the same source that the record no longer has are
    removed (e.g. after a model rerun, or a change of the template rules that changes ids), and
    intentions left without any post are deleted with them.
    """
    return (
        "UNWIND $rows AS row "
        "MATCH (p:Post {id: row.post})-[r]->(i:Intention) "
        "WHERE r.source = row.source AND NOT i.id IN row.keep "
        "DELETE r "
        "WITH DISTINCT i WHERE NOT EXISTS { (:Post)-->(i) } "
        "DETACH DELETE i "
        "RETURN count(i) AS orphans"
    )


def merge_intention_edges(relation: Relation) -> str:
    return (
        "UNWIND $rows AS row "
        "MATCH (p:Post {id: row.post}) "
        "MATCH (i:Intention {id: row.intention}) "
        f"MERGE (p)-[r:{relation.rel_type}]->(i) "
        "SET r.text = row.text, r.label = coalesce(row.label, r.label), "
        "r.label_votes = CASE WHEN size(row.label_votes) > 0 THEN row.label_votes "
        "ELSE coalesce(r.label_votes, []) END, "
        "r.source = row.source, r.model = row.model, r.prompt_version = row.prompt_version, "
        "r.critic_version = null"  # written again: the critic scores it again after the load
    )


# --- re-embedding (model migration) ----------------------------------------------------

def set_intention_embeddings() -> str:
    return (
        "UNWIND $rows AS row MATCH (i:Intention {id: row.id}) "
        "CALL db.create.setNodeVectorProperty(i, 'embedding', row.embedding)"
    )


def set_post_embeddings() -> str:
    return (
        "UNWIND $rows AS row MATCH (p:Post {id: row.id}) "
        "CALL db.create.setNodeVectorProperty(p, 'embedding', row.embedding)"
    )
