"""Searches filtered by key information: exact over the intentions (or posts) of the posts that
have it, equal to a brute-force top k, and refused with the one error shape beyond the cap."""

from __future__ import annotations

import random
from typing import Any

import pytest
from starlette.testclient import TestClient

from kg_api.app import create_app
from kg_builder.core.models import IntentionRecord, KeyInfo, PostRecord
from kg_builder.core.relations import Relation
from kg_builder.loading.loader import GraphLoader

pytestmark = pytest.mark.graph

EMOTIONS = ("joy", "sadness", "anger")
WORDS = ("concert", "rain", "exam", "dog", "beach", "coffee")


def posts() -> list[PostRecord]:
    rng = random.Random(7)
    out = []
    for n in range(60):
        word = WORDS[n % len(WORDS)]
        out.append(PostRecord(
            id=f"keyinfo:{n}", text=f"A post about {word} number {n}", source="keyinfo",
            split="train" if n % 3 else "valid",
            key_info=KeyInfo(emotion=EMOTIONS[n % 3], concept=word,
                             keywords=[word, rng.choice(WORDS)]),
            intentions=[
                IntentionRecord(relation=Relation.X_WANT,
                                text=f"After posting this Tweet, the user wants to talk about "
                                     f"{word} {n}."),
                IntentionRecord(relation=Relation.O_REACT,
                                text=f"After viewing this Tweet, others feel {EMOTIONS[n % 3]} "
                                     f"about {word} {n}.")]))
    return out


def test_key_information_searches_are_exact_and_capped(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    db = settings.neo4j_database
    summary = GraphLoader(empty_graph, embedder, db).load(posts(), progress=False)
    assert summary.posts_loaded == 60
    text = "music at a concert"
    vec = embedder.embed([text])[0].tolist()
    query = ("query($t: String!, $e: String, $w: String, $r: Relation, $k: Int!) { "
             "searchIntentions(text: $t, emotion: $e, keyword: $w, relation: $r, k: $k) "
             "{ score intention { id relation } } }")
    with TestClient(create_app(settings, embedder=embedder)) as client:
        for emotion, word, rel, k in (("joy", None, None, 50), ("Sadness", "rain", None, 5),
                                      ("anger", None, Relation.O_REACT, 7), ("none", None, None, 5)):
            answer = client.post("/graphql", json={"query": query, "variables": {
                "t": text, "e": emotion, "w": word, "r": rel.name if rel else None,
                "k": k}}).json()
            assert "errors" not in answer, answer
            hits = answer["data"]["searchIntentions"]
            where = ["EXISTS { (p)-[:HAS_EMOTION]->(:Emotion {name: $e}) }"]
            if word:
                where.append("EXISTS { (p)-[:HAS_KEYWORD]->(:Keyword {name: $w}) }")
            if rel:
                where.append("i.relation = $r")
            truth = empty_graph.execute_query(
                f"MATCH (p:Post)-->(i:Intention) WHERE {' AND '.join(where)} WITH DISTINCT i "
                "WITH i, vector.similarity.cosine(i.embedding, $v) AS s "
                "RETURN i.id AS id ORDER BY s DESC, id LIMIT $k",
                {"e": emotion.lower(), "w": word, "r": rel.value if rel else None, "v": vec,
                 "k": k}, database_=db).records
            assert [h["intention"]["id"] for h in hits] == [r["id"] for r in truth]
            matching = empty_graph.execute_query(
                f"MATCH (p:Post)-->(i:Intention) WHERE {' AND '.join(where)} "
                "RETURN count(DISTINCT i) AS n",
                {"e": emotion.lower(), "w": word, "r": rel.value if rel else None},
                database_=db).records[0]["n"]
            assert len(hits) == min(k, matching)
            assert (matching > 0) == (emotion != "none")
            if rel:
                assert {h["intention"]["relation"] for h in hits} == {rel.name}
        posts_answer = client.post("/graphql", json={"query": (
            "{ searchPosts(text: \"concert\", emotion: \"joy\", split: \"valid\", k: 100) "
            "{ post { id split } } }")}).json()
        assert "errors" not in posts_answer, posts_answer
        found = posts_answer["data"]["searchPosts"]
        assert found and {p["post"]["split"] for p in found} == {"valid"}
        assert {int(p["post"]["id"].split(":")[1]) % 3 for p in found} == {0}

    capped = settings.model_copy(update={"api_key_info_scan_max": 10})
    with TestClient(create_app(capped, embedder=embedder)) as client:
        answer = client.post("/graphql", json={"query": query, "variables": {
            "t": text, "e": "joy", "w": None, "r": None, "k": 5}})
        body = answer.json()
        assert body["data"] is None or body["data"].get("searchIntentions") is None
        error = body["errors"][0]
        assert "more than 10 intentions" in error["message"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        blank = client.post("/graphql", json={"query": query, "variables": {
            "t": text, "e": "  ", "w": None, "r": None, "k": 5}}).json()
        assert blank["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_search_while_the_vector_index_is_missing_is_a_503_that_says_retry(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    from kg_builder.graph.schema import await_indexes, drop_vector_indexes, init_schema

    db = settings.neo4j_database
    drop_vector_indexes(empty_graph, db)  # as a first load or a re-embedding does
    try:
        with TestClient(create_app(settings, embedder=embedder)) as client:
            for query in ('{ searchIntentions(text: "x", relation: X_WANT) { score } }',
                          '{ searchPosts(text: "x", hasImage: true) { score } }'):
                answer = client.post("/graphql", json={"query": query})
                assert answer.status_code == 503, answer.text
                error = answer.json()["errors"][0]
                assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                assert "not online yet" in error["message"]
    finally:
        init_schema(empty_graph, db, embedder.model_name, embedder.dimension)
        await_indexes(empty_graph, db)


def test_db_init_twice_keeps_the_vector_indexes_it_made(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    from kg_builder.graph.schema import init_schema

    db = settings.neo4j_database
    ids = "SHOW VECTOR INDEXES YIELD name, id RETURN name, id ORDER BY name"
    before = [dict(r) for r in empty_graph.execute_query(ids, database_=db).records]
    applied = init_schema(empty_graph, db, embedder.model_name, embedder.dimension)
    assert not [a for a in applied if "dropped" in a]
    assert [dict(r) for r in empty_graph.execute_query(ids, database_=db).records] == before
