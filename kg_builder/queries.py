"""All Cypher of the builder, as small functions returning parameterised statements.

Embeddings are written with ``db.create.setNodeVectorProperty``, which stores them as float32
arrays: half the store size of a plain ``SET`` of a float list, and faster to write.

Labels and relationship types are interpolated only from ``Relation`` and ``KEY_INFO_LABELS``
(our own allow-lists); every value travels as a parameter.
"""

from __future__ import annotations

from typing import Any

from kg_builder.relations import Relation


class Rows(list[dict[str, Any]]):
    """The ``$rows`` of an ``UNWIND`` statement.

    The neo4j Python driver (5.x and 6.x) formats ``repr()`` of every RUN's parameters for a debug
    log line even when debug logging is off; for 2,000 rows of 384-float embeddings that
    formatting took 90% of the client's CPU time. A short ``repr`` makes vector writes ~4x faster.
    """

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"

KEY_INFO_LABELS: dict[str, tuple[str, str]] = {
    "concept": ("Concept", "HAS_CONCEPT"),
    "action": ("Action", "HAS_ACTION"),
    "object": ("Object", "HAS_OBJECT"),
    "emotion": ("Emotion", "HAS_EMOTION"),
    "keyword": ("Keyword", "HAS_KEYWORD"),
}


def _key_info(kind: str) -> tuple[str, str]:
    try:
        return KEY_INFO_LABELS[kind]
    except KeyError as exc:
        raise ValueError(f"unknown key-information kind {kind!r}") from exc


# --- meta ------------------------------------------------------------------------------

def read_embedding_meta() -> str:
    return "MATCH (m:KGMeta {id: 'embedding'}) RETURN m.model AS model, m.dimension AS dimension"


def write_embedding_meta() -> str:
    return (
        "MERGE (m:KGMeta {id: 'embedding'}) "
        "SET m.model = $model, m.dimension = $dimension, m.updated_at = datetime() "
        "RETURN m.model AS model, m.dimension AS dimension"
    )


# --- existence checks (skip work already in the graph) --------------------------------

def existing_embedded_intentions() -> str:
    return (
        "UNWIND $ids AS id MATCH (i:Intention {id: id}) "
        "WHERE i.embedding IS NOT NULL RETURN i.id AS id"
    )


def existing_embedded_posts() -> str:
    return (
        "UNWIND $ids AS id MATCH (p:Post {id: id}) "
        "WHERE p.embedding IS NOT NULL RETURN p.id AS id, p.text AS text"
    )


# --- writes -----------------------------------------------------------------------------

def merge_posts() -> str:
    return (
        "UNWIND $rows AS row "
        "MERGE (p:Post {id: row.id}) "
        "SET p.text = row.text, p.source = row.source, p.split = row.split, "
        "p.benchmark_labels = row.benchmark_labels, p += row.extra "
        "WITH p, row WHERE row.embedding IS NOT NULL "
        "CALL db.create.setNodeVectorProperty(p, 'embedding', row.embedding)"
    )


def merge_images() -> str:
    return (
        "UNWIND $rows AS row "
        "MATCH (p:Post {id: row.post}) "
        "MERGE (img:Image {id: row.id}) "
        "SET img.file = coalesce(row.file, img.file), img.sha256 = coalesce(row.sha256, img.sha256), "
        "img.description = coalesce(row.description, img.description) "
        "MERGE (p)-[:HAS_IMAGE]->(img)"
    )


def merge_key_info(kind: str) -> str:
    label, rel_type = _key_info(kind)
    return (
        "UNWIND $rows AS row "
        "MATCH (p:Post {id: row.post}) "
        f"MERGE (k:{label} {{name: row.name}}) ON CREATE SET k.display = row.display "
        f"MERGE (p)-[:{rel_type}]->(k)"
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
        "SET r.text = row.text, r.label = row.label, r.label_votes = row.label_votes, "
        "r.source = row.source, r.model = row.model, r.prompt_version = row.prompt_version"
    )


# --- re-embedding (model migration) ----------------------------------------------------

def intention_tails_page() -> str:
    return (
        "MATCH (i:Intention) WHERE i.id > $after "
        "RETURN i.id AS id, i.tail AS text ORDER BY i.id LIMIT $limit"
    )


def post_texts_page() -> str:
    return (
        "MATCH (p:Post) WHERE p.id > $after "
        "RETURN p.id AS id, p.text AS text ORDER BY p.id LIMIT $limit"
    )


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


def drop_index() -> str:
    # Index names are ours (from schema/neo4j.cypher); DROP INDEX takes no parameter.
    return "DROP INDEX $name IF EXISTS"


def vector_index_names() -> str:
    return "SHOW VECTOR INDEXES YIELD name RETURN collect(name) AS names"


# --- stats ------------------------------------------------------------------------------

NODE_LABELS: tuple[str, ...] = (
    "Post", "Image", "Intention", *(label for label, _ in KEY_INFO_LABELS.values()),
)


def count_nodes(label: str) -> str:
    """Count of one of our labels, answered from Neo4j's count store (constant time)."""
    allowed = set(NODE_LABELS) | {r.label for r in Relation}
    if label not in allowed:
        raise ValueError(f"unknown label {label!r}")
    return f"MATCH (n:{label}) RETURN count(n) AS n"


def count_relationships(rel_type: str) -> str:
    """Count of one of our relationship types, from the count store."""
    allowed = {r.rel_type for r in Relation} | {t for _, t in KEY_INFO_LABELS.values()} | {"HAS_IMAGE"}
    if rel_type not in allowed:
        raise ValueError(f"unknown relationship type {rel_type!r}")
    return f"MATCH ()-[r:{rel_type}]->() RETURN count(r) AS n"


def count_labelled_edges(relation: Relation) -> str:
    return (
        f"MATCH ()-[r:{relation.rel_type}]->() "
        "RETURN r.label AS label, count(r) AS n"
    )


def index_states() -> str:
    return (
        "SHOW INDEXES YIELD name, type, state, populationPercent "
        "RETURN name, type, state, populationPercent"
    )
