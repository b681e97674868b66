"""Cypher that reads the graph: the API's queries and the loader's existence checks.

Nodes are returned as maps without their embeddings, so no 384-float vector crosses the wire
unless a query needs it server-side. The keys of each returned map are those of the row types
in ``kg_builder.graph.rows``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation

POST = "{.id, .text, .source, .split}"
INTENTION = "{.id, .relation, .text, .tail, .typicality}"


def _has_key_info(kind: KeyInfoKind, var: str = "p") -> str:
    return f"EXISTS {{ ({var})-[:{kind.rel_type}]->(:{kind.label} {{name: $key_{kind.value}}}) }}"


# --- before loading: what the graph already holds ---------------------------------------------

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


def intention_tails_page() -> str:
    """Intention tails in id order after ``$after`` (for re-embedding)."""
    return (
        "MATCH (i:Intention) WHERE i.id > $after "
        "RETURN i.id AS id, i.tail AS text ORDER BY i.id LIMIT $limit"
    )


def post_texts_page() -> str:
    """Post texts in id order after ``$after`` (for re-embedding)."""
    return (
        "MATCH (p:Post) WHERE p.id > $after "
        "RETURN p.id AS id, p.text AS text ORDER BY p.id LIMIT $limit"
    )


# --- single nodes ----------------------------------------------------------------------------

def posts_by_ids() -> str:
    return f"UNWIND $ids AS id MATCH (p:Post {{id: id}}) RETURN p {POST} AS post"


def intentions_by_ids() -> str:
    return f"UNWIND $ids AS id MATCH (i:Intention {{id: id}}) RETURN i {INTENTION} AS intention"


# --- pages of posts ------------------------------------------------------------------------

def posts_page(
    *, text: bool, source: bool, has_image: bool | None, key_kinds: list[KeyInfoKind],
    after: bool = True,
) -> str:
    """Posts ordered by id after a cursor, with optional filters (all values are parameters).

    The cursor condition is left out when there is no cursor: ``$after IS NULL OR ...`` would
    stop the planner from answering with an index range seek in id order.
    """
    if text:
        head = "CALL db.index.fulltext.queryNodes('post_text', $text) YIELD node AS p "
    elif key_kinds:
        first = key_kinds[0]
        head = f"MATCH (:{first.label} {{name: $key_{first.value}}})<-[:{first.rel_type}]-(p:Post) "
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
    where.extend(_has_key_info(kind) for kind in key_kinds)
    return head + "WHERE " + " AND ".join(where) + f" RETURN p {POST} AS post ORDER BY p.id LIMIT $limit"


def posts_count(
    *, text: bool, source: bool, has_image: bool | None, key_kinds: list[KeyInfoKind]
) -> str:
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

# What a post's intention edges can send: the edge's properties and the intention's. A query
# that reads them names only those its caller needs (``intentions_of_posts``): the full set was
# three times the server time of the two a page of tails needs.
LINK_EDGE_PROPS = ("label", "label_votes", "source", "model", "prompt_version", "typicality",
                   "critic", "critic_version", "judges", "judge_scores", "judge_times",
                   "human_score", "human_label", "human_agreement")
LINK_NODE_PROPS = ("id", "relation", "text", "tail", "typicality")


def _links(edge_props: Iterable[str], node_props: Iterable[str], edge_text: bool) -> str:
    """``collect(...)`` of the links ``(p)-[r]->(i)`` in scope, with only the properties named
    (from the allow-lists above; the intention's id and relation always)."""
    return _links_of(frozenset(edge_props), frozenset(node_props), edge_text)


@functools.lru_cache(maxsize=256)  # built for every page request; few distinct projections
def _links_of(edge_props: frozenset[str], node_props: frozenset[str], edge_text: bool) -> str:
    edge = sorted(edge_props)
    node = sorted({"id", "relation", *node_props})
    unknown = [p for p in edge if p not in LINK_EDGE_PROPS] + [
        p for p in node if p not in LINK_NODE_PROPS]
    if unknown:
        raise ValueError(f"not a property of intention links: {unknown}")
    edge_items = [f".{p}" for p in edge]
    if edge_text:
        edge_items.append("text: CASE WHEN r.text = i.text THEN null ELSE r.text END")
    edge_map = f"r {{{', '.join(edge_items)}}}" if edge_items else "{}"
    return f"collect({{edge: {edge_map}, intention: i {{{', '.join('.' + p for p in node)}}}}})"


def intentions_of_posts(edge_props: Iterable[str] = LINK_EDGE_PROPS,
                        node_props: Iterable[str] = LINK_NODE_PROPS,
                        edge_text: bool = True) -> str:
    """Per (post, relation-type-or-null, filters) key, the post's intention edges, in relation
    and id order, each as ``{edge: {...}, intention: {...}}`` with only the properties named.
    ``edge_text`` sends the edge's own sentence when it differs from the intention's."""
    return (
        "UNWIND $keys AS key "
        "MATCH (p:Post {id: key.post})-[r]->(i:Intention) "
        "WHERE (key.type IS NULL OR type(r) = key.type) "
        "AND (key.min_typicality IS NULL OR r.typicality >= key.min_typicality) "
        "AND (key.label IS NULL OR r.label = key.label) "
        "AND (key.min_human IS NULL OR r.human_score >= key.min_human) "
        "AND (key.human_label IS NULL OR r.human_label = key.human_label) "
        "WITH key, r, i ORDER BY i.relation, i.id "
        "RETURN key.post AS post, key.type AS type, key.min_typicality AS min_typicality, "
        "key.label AS label, key.min_human AS min_human, key.human_label AS human_label, "
        f"{_links(edge_props, node_props, edge_text)} AS links"
    )


def with_links(page: str, edge_props: Iterable[str], node_props: Iterable[str],
               edge_text: bool) -> str:
    """A ``posts_page`` statement that also sends each post's intention links (all of them, as
    ``intentions_of_posts`` with no filter would): one round trip for a page and its links."""
    head, sep, _ = page.partition(f" RETURN p {POST} AS post ORDER BY p.id LIMIT $limit")
    if not sep:
        raise ValueError("not a posts_page statement")
    return (
        f"{head} WITH p ORDER BY p.id LIMIT $limit "
        "CALL (p) { MATCH (p)-[r]->(i:Intention) WITH r, i ORDER BY i.relation, i.id "
        f"RETURN {_links(edge_props, node_props, edge_text)} AS links }} "
        f"RETURN p {POST} AS post, links ORDER BY p.id"
    )


def key_info_of_posts() -> str:
    labels = [kind.label for kind in KeyInfoKind]
    types = "|".join(kind.rel_type for kind in KeyInfoKind)
    return (
        f"UNWIND $ids AS id MATCH (p:Post {{id: id}})-[:{types}]->(k) "
        f"WHERE any(l IN labels(k) WHERE l IN {labels!r}) "
        "WITH id, k ORDER BY k.name "
        "RETURN id, collect({label: labels(k)[0], name: k.name, display: k.display}) AS items"
    )


def images_of_posts() -> str:
    return (
        "UNWIND $ids AS id MATCH (p:Post {id: id})-[r:HAS_IMAGE]->(img:Image) "
        "RETURN id, img {.id, .file, .sha256, description: r.description} AS image"
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


def posts_of_key_info(kind: KeyInfoKind) -> str:
    return (
        f"MATCH (:{kind.label} {{name: $name}})<-[:{kind.rel_type}]-(p:Post) "
        "WHERE $after IS NULL OR p.id > $after "
        f"RETURN p {POST} AS post ORDER BY p.id LIMIT $limit"
    )


def count_posts_of_key_info(kind: KeyInfoKind) -> str:
    return f"MATCH (:{kind.label} {{name: $name}})<-[:{kind.rel_type}]-(p:Post) RETURN count(p) AS n"


def key_info_node(kind: KeyInfoKind) -> str:
    return f"MATCH (k:{kind.label} {{name: $name}}) RETURN k {{.name, .display}} AS k"


# --- vector search -------------------------------------------------------------------------
# One vector index per node kind (schema/neo4j.cypher), searched with Cypher 25's SEARCH: its
# WHERE holds only predicates on the index's filter properties, so a filtered search returns
# the nearest among the nodes that match (not a post-filtered remainder). The index answers up
# to `$fetch` candidates (at least the API's search beam); each is rescored by the exact cosine
# of its stored float32 embedding (on the index's scale: (1 + cos) / 2) before the best k are
# kept: exact scores, and the true order among near-ties, whatever the index's quantization.
# A SEARCH predicate cannot be switched off by a null parameter, so each combination of
# filters is its own statement (built only from the fixed names below).
EXACT = "vector.similarity.cosine(node.embedding, {vector}) AS score"
INTENTION_INDEX = "intention_embedding"
POST_INDEX = "post_embedding"


def _search(index: str, vector: str, filters: list[str]) -> str:
    where = f"WHERE {' AND '.join(filters)} " if filters else ""
    return f"SEARCH node IN (VECTOR INDEX {index} FOR {vector} {where}LIMIT $fetch)"


def search_intentions(relation: bool, typicality: bool) -> str:
    """The nearest intentions to ``$vector``; of ``$relation`` and at or above
    ``$min_typicality`` when those filters are on."""
    filters = (["node.relation = $relation"] if relation else []) + (
        ["node.typicality >= $min_typicality"] if typicality else [])
    return (
        f"CYPHER 25 MATCH (node:Intention) {_search(INTENTION_INDEX, '$vector', filters)} "
        f"WITH node, {EXACT.format(vector='$vector')} WHERE score >= $min_score "
        f"RETURN score, node {INTENTION} AS intention ORDER BY score DESC LIMIT $k"
    )


def similar_intentions(same_relation: bool, typicality: bool) -> str:
    """The k nearest to each given intention, itself excluded; one round trip for all keys of
    one filter shape (``$fetch``: the most any key needs, itself included)."""
    filters = (["node.relation = i.relation"] if same_relation else []) + (
        ["node.typicality >= key.min_typicality"] if typicality else [])
    return (
        "CYPHER 25 UNWIND $keys AS key MATCH (i:Intention {id: key.id}) "
        "WHERE i.embedding IS NOT NULL "
        f"MATCH (node:Intention) {_search(INTENTION_INDEX, 'i.embedding', filters)} "
        f"WITH key, i, node, {EXACT.format(vector='i.embedding')} WHERE node <> i "
        "WITH key, node, score ORDER BY score DESC "
        "RETURN key.id AS id, key.k AS k, key.min_typicality AS min_typicality, "
        f"collect({{score: score, intention: node {INTENTION}}})[..key.k] AS hits"
    )


POST_FILTERS = {"source": "node.source = $source", "split": "node.split = $split",
                "has_image": "node.has_image = $has_image"}


def search_posts(filters: Iterable[str] = ()) -> str:
    """The nearest posts to ``$vector``, with those of ``POST_FILTERS`` that are named."""
    named = set(filters)
    chosen = [POST_FILTERS[f] for f in POST_FILTERS if f in named]
    if unknown := named - set(POST_FILTERS):
        raise ValueError(f"unknown post filter(s) {sorted(unknown)}")
    return (
        f"CYPHER 25 MATCH (node:Post) {_search(POST_INDEX, '$vector', chosen)} "
        f"WITH node, {EXACT.format(vector='$vector')} WHERE score >= $min_score "
        f"RETURN score, node {POST} AS post ORDER BY score DESC LIMIT $k"
    )


def similar_posts() -> str:
    return (
        "CYPHER 25 UNWIND $keys AS key MATCH (p:Post {id: key.id}) WHERE p.embedding IS NOT NULL "
        f"MATCH (node:Post) {_search(POST_INDEX, 'p.embedding', [])} "
        f"WITH key, p, node, {EXACT.format(vector='p.embedding')} WHERE node <> p "
        "WITH key, node, score ORDER BY score DESC "
        f"RETURN key.id AS id, key.k AS k, collect({{score: score, post: node {POST}}})[..key.k] AS hits"
    )


# Key information is a graph pattern, not a property of the node searched (an intention is
# shared by posts of many emotions), so no vector index can filter on it. A search by key
# information is exact instead: the cosine of every intention (or post) of the posts that have
# that key information, after a count that the API caps (MIKO_API_KEY_INFO_SCAN_MAX).

def _key_info_posts(kinds: list[KeyInfoKind]) -> str:
    if not kinds:
        raise ValueError("a key-information search needs at least one kind")
    first, rest = kinds[0], kinds[1:]
    head = (f"MATCH (:{first.label} {{name: $key_{first.value}}})<-[:{first.rel_type}]-(p:Post)")
    return head + (f" WHERE {' AND '.join(_has_key_info(k) for k in rest)}" if rest else "")


def _intention_filters(relation: bool, typicality: bool) -> str:
    where = (["node.relation = $relation"] if relation else []) + (
        ["node.typicality >= $min_typicality"] if typicality else [])
    return f" WHERE {' AND '.join(where)}" if where else ""


def count_intentions_by_key_info(kinds: list[KeyInfoKind], relation: bool,
                                 typicality: bool) -> str:
    """How many intentions an exact key-information search would score (up to ``$cap + 1``)."""
    return (f"{_key_info_posts(kinds)} MATCH (p)-->(node:Intention)"
            f"{_intention_filters(relation, typicality)} WITH DISTINCT node LIMIT $cap "
            "RETURN count(node) AS n")


def search_intentions_by_key_info(kinds: list[KeyInfoKind], relation: bool,
                                  typicality: bool) -> str:
    """The exact nearest intentions to ``$vector`` among those of the posts with the key
    information (and the relation and typicality floor when those filters are on)."""
    return (f"{_key_info_posts(kinds)} MATCH (p)-->(node:Intention)"
            f"{_intention_filters(relation, typicality)} WITH DISTINCT node "
            f"WITH node, {EXACT.format(vector='$vector')} WHERE score >= $min_score "
            f"RETURN score, node {INTENTION} AS intention ORDER BY score DESC, node.id LIMIT $k")


def _post_filters(filters: Iterable[str]) -> str:
    named = set(filters)
    if unknown := named - set(POST_FILTERS):
        raise ValueError(f"unknown post filter(s) {sorted(unknown)}")
    where = [POST_FILTERS[f].replace("node.", "p.") for f in POST_FILTERS if f in named]
    return f" AND {' AND '.join(where)}" if where else ""


def count_posts_by_key_info(kinds: list[KeyInfoKind], filters: Iterable[str] = ()) -> str:
    posts = _key_info_posts(kinds)
    extra = _post_filters(filters)
    if extra and " WHERE " not in posts:
        extra = " WHERE" + extra[4:]
    return f"{posts}{extra} WITH p LIMIT $cap RETURN count(p) AS n"


def search_posts_by_key_info(kinds: list[KeyInfoKind], filters: Iterable[str] = ()) -> str:
    """The exact nearest posts to ``$vector`` among those with the key information."""
    posts = _key_info_posts(kinds)
    extra = _post_filters(filters)
    if extra and " WHERE " not in posts:
        extra = " WHERE" + extra[4:]
    return (f"{posts}{extra} WITH p AS node "
            f"WITH node, {EXACT.format(vector='$vector')} WHERE score >= $min_score "
            f"RETURN score, node {POST} AS post ORDER BY score DESC, node.id LIMIT $k")


# --- aggregates ------------------------------------------------------------------------------

def relation_stats(relation: Relation) -> str:
    """One row, also on a graph with no intention of the relation yet (zeros): counts as
    subqueries, so no grouping can leave the answer without a row."""
    return (
        f"RETURN COUNT {{ (:{relation.label}) }} AS intentions, "
        f"COUNT {{ ()-[:{relation.rel_type}]->() }} AS edges, "
        f"COUNT {{ MATCH (p:Post) WHERE EXISTS {{ (p)-[:{relation.rel_type}]->() }} }} AS posts"
    )


def top_intentions(relation: Relation, key_kinds: list[KeyInfoKind],
                   min_typicality: bool = False) -> str:
    """With ``min_typicality``, only edges scored at or above ``$min_typicality`` count."""
    rel = relation.rel_type
    if not key_kinds and not min_typicality:  # degree counts: no edge is read
        return (
            f"MATCH (i:{relation.label}) WITH i, COUNT {{ (:Post)-[:{rel}]->(i) }} AS posts "
            f"ORDER BY posts DESC, i.id LIMIT $k RETURN posts, i {INTENTION} AS intention"
        )
    if not key_kinds:
        return (
            f"MATCH (i:{relation.label}) WHERE i.typicality >= $min_typicality "
            f"WITH i, COUNT {{ MATCH (:Post)-[r:{rel}]->(i) "
            "WHERE r.typicality >= $min_typicality } AS posts "
            f"ORDER BY posts DESC, i.id LIMIT $k RETURN posts, i {INTENTION} AS intention"
        )
    first, rest = key_kinds[0], key_kinds[1:]
    where = " AND ".join(_has_key_info(kind) for kind in rest) or "true"
    return (
        f"MATCH (:{first.label} {{name: $key_{first.value}}})<-[:{first.rel_type}]-(p:Post) "
        f"WHERE {where} "
        f"MATCH (p)-[r:{rel}]->(i:Intention) "
        "WHERE $min_typicality IS NULL OR r.typicality >= $min_typicality "
        f"WITH i, count(DISTINCT p) AS posts ORDER BY posts DESC, i.id LIMIT $k "
        f"RETURN posts, i {INTENTION} AS intention"
    )
