"""Every aggregate on a graph with nothing of its kind yet answers one row of zeros.

Neo4j 2026.x answers a `MATCH` on a label or relationship type that does not exist yet with no
row at all, where 5.26 answered zeros; an aggregate that groups after such a `MATCH` then has
nothing to answer with (the `relationStats` failure found when the server was first tried).
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation
from kg_builder.graph.queries import admin, annotation, quality, read

pytestmark = pytest.mark.graph


def one_row(driver: Any, db: str, statement: str, **params: Any) -> dict[str, Any]:
    records = driver.execute_query(statement, params, database_=db).records
    assert len(records) == 1, statement
    return dict(records[0])


def test_every_count_on_an_empty_graph_is_one_row_of_zeros(
    empty_graph: Any, settings: Any
) -> None:
    db = settings.neo4j_database
    for label in (*admin.NODE_LABELS, *(r.label for r in Relation)):
        assert one_row(empty_graph, db, admin.count_nodes(label)) == {"n": 0}
    for rel_type in (*(r.rel_type for r in Relation), *(k.rel_type for k in KeyInfoKind),
                     "HAS_IMAGE"):
        assert one_row(empty_graph, db, admin.count_relationships(rel_type)) == {"n": 0}
    for relation in Relation:
        assert one_row(empty_graph, db, read.relation_stats(relation)) == {
            "intentions": 0, "edges": 0, "posts": 0}
        assert one_row(empty_graph, db, read.intentions_count(relation)) == {"n": 0}
    assert one_row(empty_graph, db, read.intentions_count(None)) == {"n": 0}
    for has_image in (None, True, False):
        assert one_row(empty_graph, db, read.posts_count(
            text=False, source=True, has_image=has_image, key_kinds=[KeyInfoKind.EMOTION]),
            source="x", key_emotion="joy") == {"n": 0}
    assert one_row(empty_graph, db, quality.typicality_summary()) == {
        "scored": 0, "mean": None, "versions": []}
    assert one_row(empty_graph, db, annotation.judged_count(), prefix="ls:") == {
        "intentions": 0, "annotations": 0}
    assert one_row(empty_graph, db, read.count_posts_of_key_info(KeyInfoKind.KEYWORD),
                   name="none") == {"n": 0}


def test_stats_and_relation_stats_answer_on_an_empty_graph(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    from starlette.testclient import TestClient

    from kg_api.app import create_app

    result = CliRunner().invoke(main, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    with TestClient(create_app(settings, embedder=embedder)) as client:
        answer = client.post("/graphql", json={"query": "{ relationStats { relation "
                                                "intentions edges posts } }"}).json()
    assert "errors" not in answer, answer
    assert len(answer["data"]["relationStats"]) == len(Relation)
    assert {row["edges"] for row in answer["data"]["relationStats"]} == {0}
