"""All Cypher of the API: read-only, parameterised; labels and types only from our allow-lists.

Nodes are returned as maps without their embeddings, so no 384-float vector crosses the wire
unless a query needs it server-side.
"""

from __future__ import annotations

from kg_builder.graph import vector_index_for
from kg_builder.queries import KEY_INFO_LABELS
from kg_builder.relations import Relation

POST = "{.id, .text, .source, .split}"
INTENTION = "{.id, .relation, .text, .tail}"


def key_info_label(kind: str) -> tuple[str, str]:
    return KEY_INFO_LABELS[kind]


# --- single nodes ----------------------------------------------------------------------------

def posts_by_ids() -> str:
    return f"UNWIND $ids AS id MATCH (p:Post {{id: id}}) RETURN p {POST} AS post"


def intentions_by_ids() -> str:
    return f"UNWIND $ids AS id MATCH (i:Intention {{id: id}}) RETURN i {INTENTION} AS intention"


# --- pages of posts ------------------------------------------------------------------------

def posts_page(
    *, text: bool, source: bool, has_image: bool | None, key_kinds: list[str], after: bool = True
) -> str:
    """Posts ordered by id after a cursor, with optional filters (all values are parameters).

    The cursor condition is left out when there is no cursor: ``$after IS NULL OR ...`` would
    stop the planner from answering with an index range seek in id order.
    """
    if text:
        head = "CALL db.index.fulltext.queryNodes('post_text', $text) YIELD node AS p "
    elif key_kinds:
        label, rel = key_info_label(key_kinds[0])
        head = f"MATCH (:{label} {{name: $key_{key_kinds[0]}}})<-[:{rel}]-(p:Post) "
        key_kinds = key_kinds[1:]
    else:
        head = "MATCH (p:Post) "
    where = ["p.id > $after" if after else "p.id IS NOT NULL"]
    if source:
        where.append("p.source = $source")
    if has_image is True:
        where.append("EXISTS { (p)-[:HAS_IMAGE]->() }")
    elif has_image is False:
        where.append("NOT EXISTS { (p)-[:HAS_IMAGE]->() }")
    for kind in key_kinds:
        label, rel = key_info_label(kind)
        where.append(f"EXISTS {{ (p)-[:{rel}]->(:{label} {{name: $key_{kind}}}) }}")
    return head + "WHERE " + " AND ".join(where) + f" RETURN p {POST} AS post ORDER BY p.id LIMIT $limit"


def posts_count(*, text: bool, source: bool, has_image: bool | None, key_kinds: list[str]) -> str:
    page = posts_page(text=text, source=source, has_image=has_image, key_kinds=key_kinds,
                      after=False)
    head, _, _ = page.partition(f" RETURN p {POST}")
    return head + " RETURN count(p) AS n"


def intentions_page(relation: Relation | None, after: bool = True) -> str:
    """Intentions in id order. Ids start with the relation ("xWant:..."), so one relation's
    intentions are one range of the unique id index: a prefix seek, already in order."""
    where = ["i.id > $after" if after else "i.id IS NOT NULL"]
    if relation is not None:
        where.append("i.id STARTS WITH $prefix")
    return (
        f"MATCH (i:Intention) WHERE {' AND '.join(where)} "
        f"RETURN i {INTENTION} AS intention ORDER BY i.id LIMIT $limit"
    )


def intentions_count(relation: Relation | None) -> str:
    label = relation.label if relation else "Intention"
    return f"MATCH (i:{label}) RETURN count(i) AS n"


# --- batched nested fields (dataloaders) -----------------------------------------------------

def intentions_of_posts() -> str:
    """Per (post, relation-type-or-null) key, the post's intention edges."""
    return (
        "UNWIND $keys AS key "
        "MATCH (p:Post {id: key.post})-[r]->(i:Intention) "
        "WHERE key.type IS NULL OR type(r) = key.type "
        "WITH key, r, i ORDER BY i.relation, i.id "
        "RETURN key.post AS post, key.type AS type, collect({edge: r {.label, .label_votes, "
        ".source, .model, .prompt_version, text: CASE WHEN r.text = i.text THEN null "
        f"ELSE r.text END}}, intention: i {INTENTION}}}) AS links"
    )


def key_info_of_posts() -> str:
    labels = [label for label, _ in KEY_INFO_LABELS.values()]
    types = "|".join(rel for _, rel in KEY_INFO_LABELS.values())
    return (
        f"UNWIND $ids AS id MATCH (p:Post {{id: id}})-[:{types}]->(k) "
        f"WHERE any(l IN labels(k) WHERE l IN {labels!r}) "
        "WITH id, k ORDER BY k.name "
        "RETURN id, collect({label: labels(k)[0], name: k.name, display: k.display}) AS items"
    )


def images_of_posts() -> str:
    return (
        "UNWIND $ids AS id MATCH (p:Post {id: id})-[:HAS_IMAGE]->(img:Image) "
        "RETURN id, img {.id, .file, .sha256, .description} AS image"
    )


def posts_of_intentions() -> str:
    return (
        "UNWIND $keys AS key MATCH (i:Intention {id: key.id}) "
        "OPTIONAL MATCH (p:Post)-->(i) WHERE key.after IS NULL OR p.id > key.after "
        "WITH key, p ORDER BY p.id "
        f"WITH key, collect(p {POST})[..key.limit] AS posts "
        "RETURN key.id AS id, key.after AS after, key.limit AS limit, posts"
    )


def posts_of_intentions_count() -> str:
    return "UNWIND $ids AS id MATCH (i:Intention {id: id}) RETURN id, COUNT { (:Post)-->(i) } AS n"


def posts_of_key_info(kind: str) -> str:
    label, rel = key_info_label(kind)
    return (
        f"MATCH (:{label} {{name: $name}})<-[:{rel}]-(p:Post) "
        "WHERE $after IS NULL OR p.id > $after "
        f"RETURN p {POST} AS post ORDER BY p.id LIMIT $limit"
    )


def count_posts_of_key_info(kind: str) -> str:
    label, rel = key_info_label(kind)
    return f"MATCH (:{label} {{name: $name}})<-[:{rel}]-(p:Post) RETURN count(p) AS n"


def key_info_node(kind: str) -> str:
    label, _ = key_info_label(kind)
    return f"MATCH (k:{label} {{name: $name}}) RETURN k {{.name, .display}} AS k"


# --- vector search -------------------------------------------------------------------------

def search_intentions(relation: Relation | None) -> str:
    index = vector_index_for(relation)
    return (
        f"CALL db.index.vector.queryNodes('{index}', $k, $vector) YIELD node, score "
        f"WHERE score >= $min_score RETURN score, node {INTENTION} AS intention"
    )


def similar_intentions() -> str:
    """k nearest to each given intention in the given index, itself excluded; one round trip."""
    return (
        "UNWIND $keys AS key MATCH (i:Intention {id: key.id}) WHERE i.embedding IS NOT NULL "
        "CALL db.index.vector.queryNodes(key.index, key.k + 1, i.embedding) YIELD node, score "
        "WITH key, i, node, score WHERE node <> i "
        "WITH key, node, score ORDER BY score DESC "
        f"RETURN key.id AS id, key.index AS index, key.k AS k, "
        f"collect({{score: score, intention: node {INTENTION}}})[..key.k] AS hits"
    )


def search_posts() -> str:
    return (
        "CALL db.index.vector.queryNodes('post_embedding', $k, $vector) YIELD node, score "
        f"WHERE score >= $min_score RETURN score, node {POST} AS post"
    )


def similar_posts() -> str:
    return (
        "UNWIND $keys AS key MATCH (p:Post {id: key.id}) WHERE p.embedding IS NOT NULL "
        "CALL db.index.vector.queryNodes('post_embedding', key.k + 1, p.embedding) YIELD node, score "
        "WITH key, p, node, score WHERE node <> p "
        "WITH key, node, score ORDER BY score DESC "
        f"RETURN key.id AS id, key.k AS k, collect({{score: score, post: node {POST}}})[..key.k] AS hits"
    )


# --- aggregates ------------------------------------------------------------------------------

def relation_stats(relation: Relation) -> str:
    return (
        f"MATCH (i:{relation.label}) WITH count(i) AS intentions "
        f"MATCH ()-[r:{relation.rel_type}]->() WITH intentions, count(r) AS edges "
        "RETURN intentions, edges, "
        f"COUNT {{ MATCH (p:Post) WHERE EXISTS {{ (p)-[:{relation.rel_type}]->() }} }} AS posts"
    )


def top_intentions(relation: Relation, key_kinds: list[str]) -> str:
    rel = relation.rel_type
    if not key_kinds:
        return (
            f"MATCH (i:{relation.label}) WITH i, COUNT {{ (:Post)-[:{rel}]->(i) }} AS posts "
            f"ORDER BY posts DESC, i.id LIMIT $k RETURN posts, i {INTENTION} AS intention"
        )
    first, rest = key_kinds[0], key_kinds[1:]
    label, krel = key_info_label(first)
    where = " AND ".join(
        f"EXISTS {{ (p)-[:{key_info_label(kind)[1]}]->(:{key_info_label(kind)[0]} "
        f"{{name: $key_{kind}}}) }}" for kind in rest
    ) or "true"
    return (
        f"MATCH (:{label} {{name: $key_{first}}})<-[:{krel}]-(p:Post) WHERE {where} "
        f"MATCH (p)-[:{rel}]->(i:Intention) "
        f"WITH i, count(DISTINCT p) AS posts ORDER BY posts DESC, i.id LIMIT $k "
        f"RETURN posts, i {INTENTION} AS intention"
    )


# --- readiness -------------------------------------------------------------------------------

def index_states() -> str:
    return "SHOW INDEXES YIELD name, type, state RETURN name, type, state"
