"""The quality loop on the real graph: every edge scored by the critic after a load, and the
API's quality filters return exactly the edges Cypher counts at or above the threshold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kg_api.app import create_app
from kg_builder.loading.loader import GraphLoader
from kg_builder.loading.readers import MikoReader
from kg_builder.quality.critic import load_critic
from kg_builder.quality.scoring import score_graph

pytestmark = pytest.mark.graph
THRESHOLD = 0.8


@pytest.fixture(scope="module")
def scored(driver: Any, settings: Any, embedder: Any, data_dir: Path) -> Iterator[Any]:
    from kg_builder.graph.schema import await_indexes, init_schema
    from tests.conftest import wipe

    db = settings.neo4j_database
    wipe(driver, db)
    init_schema(driver, db, embedder.model_name, embedder.dimension)
    GraphLoader(driver, embedder, db).load(MikoReader(data_dir / "miko" / "train.json"),
                                           progress=False)
    await_indexes(driver, db)
    critic = load_critic(None)
    summary = score_graph(driver, db, critic, progress=False)
    yield driver, critic, summary


def cypher(driver: Any, settings: Any, query: str, **params: Any) -> list[Any]:
    rows, _, _ = driver.execute_query(query, params, database_=settings.neo4j_database)
    return list(rows)


def test_every_edge_is_scored_after_a_load_and_a_rescore_is_free(scored: Any, settings: Any) -> None:
    driver, critic, summary = scored
    [row] = cypher(driver, settings, "MATCH (:Post)-[r]->(:Intention) RETURN count(r) AS n, "
                   "count(r.typicality) AS scored, min(r.typicality) AS low, "
                   "max(r.typicality) AS high, collect(DISTINCT r.critic_version) AS versions")
    assert row["n"] == row["scored"] == summary.edges > 7000
    assert 0.0 < row["low"] < row["high"] < 1.0
    assert row["versions"] == [critic.version]
    # Nothing changed: nothing to score again.
    assert score_graph(driver, settings.neo4j_database, critic, progress=False).edges == 0
    # A node's typicality is the best of its edges'.
    [bad] = cypher(driver, settings, "MATCH (i:Intention) "
                   "WITH i, COLLECT { MATCH (:Post)-[r]->(i) RETURN r.typicality } AS ts "
                   "WHERE i.typicality <> reduce(m = 0.0, t IN ts | CASE WHEN t > m THEN t ELSE m END) "
                   "RETURN count(i) AS n")
    assert bad["n"] == 0


def test_api_filters_match_cypher(scored: Any, settings: Any, embedder: Any) -> None:
    driver, _, _ = scored
    with TestClient(create_app(settings, embedder=embedder)) as client:
        def gql(query: str) -> Any:
            answer = client.post("/graphql", json={"query": query}).json()
            assert "errors" not in answer, answer
            return answer["data"]

        data = gql(f'{{ posts(first: 100) {{ edges {{ node {{ id '
                   f'intentions(minTypicality: {THRESHOLD}) {{ typicality critic label }} '
                   f'kept: intentions(label: 1) {{ label }} }} }} }} }}')
        nodes = [e["node"] for e in data["posts"]["edges"]]
        got = {n["id"]: len(n["intentions"]) for n in nodes}
        rows = cypher(driver, settings, "UNWIND $ids AS id MATCH (p:Post {id: id}) RETURN id, "
                      "COUNT { (p)-[r]->(:Intention) WHERE r.typicality >= $t } AS n, "
                      "COUNT { (p)-[r]->(:Intention) WHERE r.label = 1 } AS kept",
                      ids=list(got), t=THRESHOLD)
        assert got == {r["id"]: r["n"] for r in rows}
        assert {n["id"]: len(n["kept"]) for n in nodes} == {r["id"]: r["kept"] for r in rows}
        assert sum(got.values()) > 0
        assert all(i["typicality"] >= THRESHOLD and i["critic"].startswith("typicality-logreg")
                   for n in nodes for i in n["intentions"])

        hits = gql(f'{{ searchIntentions(text: "share excitement about a concert", k: 20, '
                   f'minTypicality: {THRESHOLD}) {{ intention {{ typicality }} }} }}')
        assert hits["searchIntentions"]
        assert all(h["intention"]["typicality"] >= THRESHOLD for h in hits["searchIntentions"])

        top = gql(f'{{ topIntentions(relation: X_WANT, k: 5, minTypicality: {THRESHOLD}) '
                  '{ posts intention { id } } }')["topIntentions"]
        expected = cypher(driver, settings, "MATCH (:Post)-[r:X_WANT]->(i:Intention) "
                          "WHERE r.typicality >= $t WITH i, count(r) AS posts "
                          "ORDER BY posts DESC, i.id LIMIT 5 RETURN i.id AS id, posts", t=THRESHOLD)
        assert [(t["intention"]["id"], t["posts"]) for t in top] == [
            (r["id"], r["posts"]) for r in expected]

        any_id = top[0]["intention"]["id"]
        similar = gql(f'{{ similarIntentions(id: "{any_id}", k: 10, minTypicality: {THRESHOLD}) '
                      '{ intention { typicality } } }')["similarIntentions"]
        assert all(h["intention"]["typicality"] >= THRESHOLD for h in similar)

        bad = client.post("/graphql", json={"query": '{ topIntentions(relation: X_WANT, '
                                            'minTypicality: 1.5) { posts } }'}).json()
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
