"""The vector searches' Cypher, exactly as it is sent (a change shows here first)."""

from __future__ import annotations

import pytest

from kg_builder.graph.queries import read
from kg_builder.graph.queries.admin import LEGACY_VECTOR_INDEXES, vector_index_definitions

INTENTION = "{.id, .relation, .text, .tail, .typicality}"
POST = "{.id, .text, .source, .split}"


def test_an_unfiltered_intention_search_is_locked() -> None:
    assert read.search_intentions(False, False) == (
        "CYPHER 25 MATCH (node:Intention) SEARCH node IN (VECTOR INDEX intention_embedding FOR "
        "$vector LIMIT $fetch) WITH node, vector.similarity.cosine(node.embedding, $vector) AS "
        "score WHERE score >= $min_score "
        f"RETURN score, node {INTENTION} AS intention ORDER BY score DESC LIMIT $k")


def test_filters_are_predicates_inside_the_index_search() -> None:
    assert read.search_intentions(True, True) == (
        "CYPHER 25 MATCH (node:Intention) SEARCH node IN (VECTOR INDEX intention_embedding FOR "
        "$vector WHERE node.relation = $relation AND node.typicality >= $min_typicality LIMIT "
        "$fetch) WITH node, vector.similarity.cosine(node.embedding, $vector) AS score WHERE "
        f"score >= $min_score RETURN score, node {INTENTION} AS intention ORDER BY score DESC "
        "LIMIT $k")
    assert "WHERE node.typicality >= $min_typicality LIMIT" in read.search_intentions(False, True)
    assert "WHERE node.relation = $relation LIMIT" in read.search_intentions(True, False)


def test_similar_intentions_is_locked() -> None:
    assert read.similar_intentions(True, True) == (
        "CYPHER 25 UNWIND $keys AS key MATCH (i:Intention {id: key.id}) WHERE i.embedding IS NOT "
        "NULL MATCH (node:Intention) SEARCH node IN (VECTOR INDEX intention_embedding FOR "
        "i.embedding WHERE node.relation = i.relation AND node.typicality >= key.min_typicality "
        "LIMIT $fetch) WITH key, i, node, vector.similarity.cosine(node.embedding, i.embedding) "
        "AS score WHERE node <> i WITH key, node, score ORDER BY score DESC RETURN key.id AS id, "
        "key.k AS k, key.min_typicality AS min_typicality, collect({score: score, intention: "
        f"node {INTENTION}}})[..key.k] AS hits")
    assert " WHERE " not in read.similar_intentions(False, False).split("SEARCH")[1].split(
        "LIMIT")[0]


def test_post_searches_are_locked() -> None:
    assert read.search_posts(["has_image", "source"]) == (
        "CYPHER 25 MATCH (node:Post) SEARCH node IN (VECTOR INDEX post_embedding FOR $vector "
        "WHERE node.source = $source AND node.has_image = $has_image LIMIT $fetch) WITH node, "
        "vector.similarity.cosine(node.embedding, $vector) AS score WHERE score >= $min_score "
        f"RETURN score, node {POST} AS post ORDER BY score DESC LIMIT $k")
    assert read.similar_posts() == (
        "CYPHER 25 UNWIND $keys AS key MATCH (p:Post {id: key.id}) WHERE p.embedding IS NOT NULL "
        "MATCH (node:Post) SEARCH node IN (VECTOR INDEX post_embedding FOR p.embedding LIMIT "
        "$fetch) WITH key, p, node, vector.similarity.cosine(node.embedding, p.embedding) AS "
        "score WHERE node <> p WITH key, node, score ORDER BY score DESC RETURN key.id AS id, "
        f"key.k AS k, collect({{score: score, post: node {POST}}})[..key.k] AS hits")


def test_an_unknown_post_filter_never_reaches_cypher() -> None:
    with pytest.raises(ValueError, match="unknown post filter"):
        read.search_posts(["source", "n.text = 'x' OR true"])


def test_index_definitions_and_legacy_names() -> None:
    assert vector_index_definitions() == (
        "SHOW VECTOR INDEXES YIELD name, properties WHERE name IN $names RETURN name, properties")
    assert LEGACY_VECTOR_INDEXES[0] == "intention_embedding_xneed" and len(LEGACY_VECTOR_INDEXES) == 10


def test_key_information_searches_are_exact_scans_of_the_matching_posts() -> None:
    from kg_builder.core.key_info import KeyInfoKind

    kinds = [KeyInfoKind.EMOTION, KeyInfoKind.KEYWORD]
    head = ("MATCH (:Emotion {name: $key_emotion})<-[:HAS_EMOTION]-(p:Post) WHERE EXISTS { "
            "(p)-[:HAS_KEYWORD]->(:Keyword {name: $key_keyword}) }")
    assert read.count_intentions_by_key_info(kinds, True, False) == (
        f"{head} MATCH (p)-->(node:Intention) WHERE node.relation = $relation WITH DISTINCT node "
        "LIMIT $cap RETURN count(node) AS n")
    assert read.search_intentions_by_key_info(kinds, False, True) == (
        f"{head} MATCH (p)-->(node:Intention) WHERE node.typicality >= $min_typicality WITH "
        "DISTINCT node WITH node, vector.similarity.cosine(node.embedding, $vector) AS score "
        f"WHERE score >= $min_score RETURN score, node {INTENTION} AS intention ORDER BY score "
        "DESC, node.id LIMIT $k")
    assert read.count_posts_by_key_info([KeyInfoKind.CONCEPT], ["split"]) == (
        "MATCH (:Concept {name: $key_concept})<-[:HAS_CONCEPT]-(p:Post) WHERE p.split = $split "
        "WITH p LIMIT $cap RETURN count(p) AS n")
    assert read.search_posts_by_key_info(kinds) == (
        f"{head} WITH p AS node WITH node, vector.similarity.cosine(node.embedding, $vector) AS "
        f"score WHERE score >= $min_score RETURN score, node {POST} AS post ORDER BY score DESC, "
        "node.id LIMIT $k")
    with pytest.raises(ValueError, match="at least one kind"):
        read.search_posts_by_key_info([])


def test_the_has_image_backfill_is_locked() -> None:
    from kg_builder.graph.queries.write import backfill_has_image

    assert backfill_has_image() == (
        "MATCH (p:Post) WHERE p.has_image IS NULL WITH p LIMIT $limit "
        "SET p.has_image = EXISTS { (p)-[:HAS_IMAGE]->() } RETURN count(p) AS n")
