"""Cypher for schema, indexes, the embedding-model record, counts and server health."""

from __future__ import annotations

import re
from pathlib import Path

from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation
from kg_builder.core.resources import NEO4J_SCHEMA

# --- health -------------------------------------------------------------------------------

def ping() -> str:
    return "RETURN 1 AS ok"


def data_directory() -> str:
    """Where the server keeps its databases (to recognise a scratch server by its folder)."""
    return ("SHOW SETTINGS YIELD name, value WHERE name = 'server.directories.data' "
            "RETURN value AS path")


# --- the embedding model recorded in the graph ------------------------------------------------

def read_embedding_meta() -> str:
    return "MATCH (m:KGMeta {id: 'embedding'}) RETURN m.model AS model, m.dimension AS dimension"


def write_embedding_meta() -> str:
    return (
        "MERGE (m:KGMeta {id: 'embedding'}) "
        "SET m.model = $model, m.dimension = $dimension, m.updated_at = datetime() "
        "RETURN m.model AS model, m.dimension AS dimension"
    )


# --- the schema DDL (schema/neo4j.cypher) ----------------------------------------------------

def schema_statements(path: Path = NEO4J_SCHEMA) -> list[str]:
    """The statements of the schema file, comments removed."""
    text = path.read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    return [s.strip() for s in re.split(r";\s*$", text, flags=re.MULTILINE) if s.strip()]


_CYPHER_25 = r"(?:CYPHER 25\s+)?"


def our_indexes() -> list[str]:
    """Names of every index our schema creates (range, full-text and vector)."""
    return [m.group(1) for s in schema_statements()
            if (m := re.match(_CYPHER_25 + r"CREATE (?:VECTOR |FULLTEXT )?INDEX (\w+)", s))]


def our_vector_indexes() -> list[str]:
    """Names of the vector indexes our schema creates (the only ones miko ever drops, with the
    legacy ones below)."""
    return list(vector_index_properties())


def vector_index_properties() -> dict[str, list[str]]:
    """Each vector index of our schema: the embedding property, then its filter properties."""
    found = {}
    for s in schema_statements():
        m = re.match(_CYPHER_25 + r"CREATE VECTOR INDEX (\w+) .*? ON \w+\.(\w+)"
                     r"(?:\s+WITH \[([^\]]*)\])?", s, flags=re.DOTALL)
        if m:
            extra = [p.strip().split(".")[-1] for p in (m.group(3) or "").split(",") if p.strip()]
            found[m.group(1)] = [m.group(2), *extra]
    return found


# The per-relation vector indexes of miko before one index held every intention with its
# relation as a filter property (Neo4j 5.26): ours, dropped by `miko db init`.
LEGACY_VECTOR_INDEXES: tuple[str, ...] = tuple(
    f"intention_embedding_{r.label.lower()}" for r in Relation)


# --- indexes --------------------------------------------------------------------------------

def vector_index_names() -> str:
    """Those of ``$names`` that exist as vector indexes (never another application's)."""
    return "SHOW VECTOR INDEXES YIELD name WHERE name IN $names RETURN collect(name) AS names"


def vector_index_definitions() -> str:
    """The indexed properties (embedding first, then filter properties) of those of ``$names``
    that exist as vector indexes."""
    return ("SHOW VECTOR INDEXES YIELD name, properties WHERE name IN $names "
            "RETURN name, properties")


def drop_index() -> str:
    # Neo4j 5 accepts the index name as a parameter; the names come from our schema file.
    return "DROP INDEX $name IF EXISTS"


def index_progress() -> str:
    """State and population of those of ``$names`` that exist (never another application's)."""
    return (
        "SHOW INDEXES YIELD name, state, populationPercent WHERE name IN $names "
        "RETURN name, state, populationPercent"
    )


def index_states() -> str:
    return (
        "SHOW INDEXES YIELD name, type, state, populationPercent "
        "RETURN name, type, state, populationPercent"
    )


# --- counts (answered from Neo4j's count store, constant time) --------------------------------

NODE_LABELS: tuple[str, ...] = ("Post", "Image", "Intention", *(k.label for k in KeyInfoKind))


def count_nodes(label: str) -> str:
    """Count of one of our labels."""
    allowed = set(NODE_LABELS) | {r.label for r in Relation}
    if label not in allowed:
        raise ValueError(f"unknown label {label!r}")
    return f"MATCH (n:{label}) RETURN count(n) AS n"


def count_relationships(rel_type: str) -> str:
    """Count of one of our relationship types."""
    allowed = {r.rel_type for r in Relation} | {k.rel_type for k in KeyInfoKind} | {"HAS_IMAGE"}
    if rel_type not in allowed:
        raise ValueError(f"unknown relationship type {rel_type!r}")
    return f"MATCH ()-[r:{rel_type}]->() RETURN count(r) AS n"


def count_labelled_edges(relation: Relation) -> str:
    return f"MATCH ()-[r:{relation.rel_type}]->() RETURN r.label AS label, count(r) AS n"


# --- bulk import (kg_builder/loading/bulk.py) --------------------------------------------------

def count_foreign_nodes() -> str:
    """Nodes other than the embedding-model record: a bulk import replaces the whole store, so
    it runs only when this is 0."""
    return "MATCH (n) WHERE NOT n:KGMeta RETURN count(n) AS n"


def index_names() -> str:
    """Names of every index but the token lookup indexes every database has."""
    return "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"


def constraint_names() -> str:
    return "SHOW CONSTRAINTS YIELD name RETURN name"


def our_constraints() -> list[str]:
    """Names of the constraints our schema creates."""
    return [m.group(1) for s in schema_statements()
            if (m := re.match(r"CREATE CONSTRAINT (\w+)", s))]
