"""The student's Cypher, exactly as it is sent (a change shows here first)."""

from __future__ import annotations

from kg_builder.graph.queries.quality import student_examples_page, student_page


def test_the_student_page_query_is_locked() -> None:
    assert student_page() == (
        "MATCH (p:Post) WHERE p.id > $after AND p.split = $split WITH p ORDER BY p.id "
        "LIMIT $limit "
        "RETURN p.id AS id, p.text AS text, "
        "[(p)-[r]->(i:Intention) WHERE r.label = 1 AND ($min_typicality IS NULL OR "
        "r.typicality >= $min_typicality) | {relation: i.relation, tail: i.tail}] AS kept"
    )


def test_the_student_examples_query_is_locked() -> None:
    assert student_examples_page() == (
        "MATCH (p:Post) WHERE p.id > $after AND p.split = $split WITH p ORDER BY p.id "
        "LIMIT $limit "
        "RETURN p.id AS id, p.text AS text, p.embedding AS embedding, "
        "[(p)-[r]->(i:Intention) WHERE r.label = 1 | {relation: i.relation, tail: i.tail}] "
        "AS kept"
    )
