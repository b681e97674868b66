"""The GraphQL API against the real Neo4j server loaded with the MIKO benchmark."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from kg_api.app import create_app
from kg_api.inputs import encode_cursor
from kg_api.schema import schema_sdl
from kg_builder.core.models import KeyInfo, PostRecord
from kg_builder.core.relations import Relation
from kg_builder.inputs.readers import MikoReader
from kg_builder.loading.loader import GraphLoader

pytestmark = pytest.mark.graph

EXTRA = [
    PostRecord(id="apitest:1", text="Our team won the cup tonight!", source="apitest",
               key_info=KeyInfo(concept="Sports victory", emotion="Joy",
                                keywords=["cup", "team", "win"])),
    PostRecord(id="apitest:2", text="Celebrating the cup with the whole team", source="apitest",
               key_info=KeyInfo(concept="Sports victory", emotion="Joy", keywords=["cup", "party"])),
    PostRecord(id="apitest:3", text="Lost my keys again", source="apitest",
               key_info=KeyInfo(emotion="Frustration", keywords=["keys"])),
]


@pytest.fixture(scope="module")
def client(driver: Any, settings: Any, embedder: Any, data_dir: Path) -> Iterator[TestClient]:
    from kg_builder.graph.schema import await_indexes, init_schema
    from tests.conftest import wipe

    db = settings.neo4j_database
    wipe(driver, db)
    init_schema(driver, db, embedder.model_name, embedder.dimension)
    loader = GraphLoader(driver, embedder, db)
    assert not loader.load(MikoReader(data_dir / "miko"), progress=False).rejected
    GraphLoader(driver, embedder, db).load(EXTRA, progress=False)
    await_indexes(driver, db)
    app = create_app(settings, embedder=embedder)
    with TestClient(app) as c:
        c.app_state = app.state.miko
        yield c


def gql(client: TestClient, query: str, variables: dict[str, Any] | None = None,
        status: int = 200) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def data(client: TestClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = gql(client, query, variables)
    assert "errors" not in body, body
    return body["data"]


def test_search_intentions_relation_scoped(client: TestClient) -> None:
    d = data(client, '{ searchIntentions(text: "share excitement about a concert", '
                     'relation: X_WANT, k: 10) { score intention { id relation tail } } }')
    hits = d["searchIntentions"]
    assert len(hits) == 10
    assert {h["intention"]["relation"] for h in hits} == {"X_WANT"}
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    words = ("excite", "concert", "music", "festival", "event", "show", "tour", "perform")
    about = [h for h in hits if any(w in h["intention"]["tail"].lower() for w in words)]
    assert len(about) >= 7, [h["intention"]["tail"] for h in hits]


def test_search_intentions_global_and_min_score(client: TestClient) -> None:
    d = data(client, '{ a: searchIntentions(text: "feel proud of an achievement", k: 20) '
                     '{ score intention { relation } } '
                     'b: searchIntentions(text: "feel proud of an achievement", k: 20, minScore: 0.84) '
                     '{ score } }')
    assert len(d["a"]) == 20 and len({h["intention"]["relation"] for h in d["a"]}) >= 2
    assert all(h["score"] >= 0.84 for h in d["b"]) and 0 < len(d["b"]) < 20


def test_searches_answer_the_best_k_of_more_candidates(client: TestClient) -> None:
    """The index is asked for MIKO_API_SEARCH_CANDIDATES neighbours (100); the best k are
    answered, in score order, so a smaller k is a prefix of a larger one."""
    assert client.app_state.settings.api_search_candidates == 100  # type: ignore[attr-defined]
    for field, item in (("searchIntentions", "intention"), ("searchPosts", "post")):
        d = data(client, f'{{ few: {field}(text: "celebrating a win with friends", k: 3) '
                         f'{{ score {item} {{ id }} }} '
                         f'many: {field}(text: "celebrating a win with friends", k: 30) '
                         f'{{ score {item} {{ id }} }} }}')
        assert len(d["few"]) == 3 and len(d["many"]) == 30
        scores = [h["score"] for h in d["many"]]
        assert scores == sorted(scores, reverse=True)
        assert [h[item]["id"] for h in d["few"]] == [h[item]["id"] for h in d["many"][:3]]


def test_search_scores_are_exact_cosines(client: TestClient, driver: Any, settings: Any,
                                         embedder: Any) -> None:
    """The index's quantized scores are off by ~1e-3; the API rescores with the stored floats."""
    text = "celebrating a win with friends"
    hits = data(client, f'{{ searchIntentions(text: "{text}", k: 5) {{ score intention {{ id }} }} '
                        f'searchPosts(text: "{text}", k: 5) {{ score post {{ id }} }} }}')
    query = np.asarray(embedder.embed([text])[0], dtype=np.float64)
    for field, item, label in (("searchIntentions", "intention", "Intention"),
                               ("searchPosts", "post", "Post")):
        ids = [h[item]["id"] for h in hits[field]]
        rows, _, _ = driver.execute_query(
            f"UNWIND $ids AS id MATCH (n:{label} {{id: id}}) RETURN n.embedding AS e", ids=ids,
            database_=settings.neo4j_database)
        for hit, row in zip(hits[field], rows, strict=True):
            stored = np.asarray(row["e"], dtype=np.float64)
            cosine = stored @ query / np.linalg.norm(stored) / np.linalg.norm(query)
            assert abs(hit["score"] - (1 + cosine) / 2) < 2e-5, (hit, (1 + cosine) / 2)


def test_similar_posts_never_returns_the_post_itself(client: TestClient) -> None:
    d = data(client, '{ posts(first: 30) { edges { node { id similarPosts(k: 5) '
                     '{ score post { id } } } } } }')
    for edge in d["posts"]["edges"]:
        node = edge["node"]
        ids = [h["post"]["id"] for h in node["similarPosts"]]
        assert node["id"] not in ids and len(ids) == 5
    top = data(client, '{ similarPosts(id: "miko:train:129", k: 3) { post { id } } }')
    assert "miko:train:129" not in [h["post"]["id"] for h in top["similarPosts"]]


def test_similar_intentions_same_relation(client: TestClient) -> None:
    first = data(client, '{ intentions(relation: O_REACT, first: 1) { edges { node { id } } } }')
    iid = first["intentions"]["edges"][0]["node"]["id"]
    d = data(client, '{ similarIntentions(id: $id, k: 5) { intention { id relation } } '
                     'other: similarIntentions(id: $id, k: 5, sameRelation: false) { score } }'
             .replace("$id", json.dumps(iid)))
    assert len(d["similarIntentions"]) == 5
    assert all(h["intention"]["relation"] == "O_REACT" and h["intention"]["id"] != iid
               for h in d["similarIntentions"])
    assert len(d["other"]) == 5


def test_pagination_walks_every_post_once(client: TestClient) -> None:
    seen: list[str] = []
    after = None
    total = None
    while True:
        d = data(client, 'query($after: String) { posts(first: 100, after: $after) { totalCount '
                         'pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }',
                 {"after": after})
        page = d["posts"]
        total = page["totalCount"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == total == 884 + len(EXTRA)
    assert seen == sorted(seen)


def test_post_with_nested_fields(client: TestClient) -> None:
    d = data(client, '{ post(id: "miko:train:129") { id text image { file } '
                     'intentions { relation text label labelVotes source intention { id tail '
                     'posts(first: 5) { totalCount edges { node { id } } } } } '
                     'xwant: intentions(relation: X_WANT) { intention { tail } } } '
                     'missing: post(id: "nope") { id } }')
    post = d["post"]
    assert post["image"] == {"file": "129.jpg"}
    assert len(post["intentions"]) == 10
    assert {i["relation"] for i in post["intentions"]} == {r.name for r in Relation}
    assert all(i["label"] in (0, 1) and i["source"] == "miko" for i in post["intentions"])
    assert all("miko:train:129" in [e["node"]["id"] for e in i["intention"]["posts"]["edges"]]
               for i in post["intentions"])
    assert post["xwant"][0]["intention"]["tail"].startswith("inform followers")
    assert d["missing"] is None


def test_key_info_filters_and_top_intentions(client: TestClient) -> None:
    d = data(client, '{ keyInfo(kind: KEYWORD, name: "Cup") { kind name display '
                     'posts { totalCount edges { node { id keyInfo { kind name } } } } } '
                     'posts(filter: {emotion: "joy", keyword: "party"}) { edges { node { id } } } '
                     'none: keyInfo(kind: EMOTION, name: "boredom") { name } }')
    ki = d["keyInfo"]
    assert ki["kind"] == "KEYWORD" and ki["name"] == "cup" and ki["posts"]["totalCount"] == 2
    kinds = {(k["kind"], k["name"]) for k in ki["posts"]["edges"][0]["node"]["keyInfo"]}
    assert ("EMOTION", "joy") in kinds and ("CONCEPT", "sports victory") in kinds
    assert [e["node"]["id"] for e in d["posts"]["edges"]] == ["apitest:2"]
    assert d["none"] is None
    top = data(client, '{ topIntentions(relation: X_REACT, k: 3) { posts intention { relation } } }')
    counts = [t["posts"] for t in top["topIntentions"]]
    assert counts == sorted(counts, reverse=True) and counts[0] >= 2
    assert {t["intention"]["relation"] for t in top["topIntentions"]} == {"X_REACT"}
    none = data(client, '{ topIntentions(relation: X_REACT, emotion: "joy") { posts } }')
    assert none["topIntentions"] == []  # the key-info posts have no intentions


def test_posts_text_filter_and_source(client: TestClient) -> None:
    d = data(client, '{ posts(filter: {text: "festival"}, first: 100) { totalCount '
                     'edges { node { text } } } '
                     'src: posts(filter: {source: "apitest"}) { totalCount } '
                     'img: posts(filter: {hasImage: false}) { totalCount } }')
    assert d["posts"]["totalCount"] >= 2
    assert all("festival" in e["node"]["text"].lower() for e in d["posts"]["edges"])
    assert d["src"]["totalCount"] == 3 and d["img"]["totalCount"] == 3


def test_relation_stats_match_the_graph(client: TestClient) -> None:
    d = data(client, "{ relationStats { relation intentions edges posts } }")
    stats = {s["relation"]: s for s in d["relationStats"]}
    assert set(stats) == {r.name for r in Relation}
    assert stats["OPEN"]["edges"] == 753 and stats["X_WANT"]["edges"] == 765
    assert stats["X_WANT"]["posts"] == 765 and stats["OPEN"]["posts"] == 753


def test_nested_fields_are_batched(client: TestClient) -> None:
    query = ('{ posts(first: 50) { edges { node { id image { file } keyInfo { name } '
             'intentions { relation intention { tail } } } } } }')
    d = data(client, query)
    assert len(d["posts"]["edges"]) == 50
    repo = client.app_state.last_repo  # type: ignore[attr-defined]
    assert repo.round_trips == 3  # page with its intentions, key info, images: not 1 + 3 x 50


ALL_LINK_FIELDS = ("relation text label labelVotes typicality critic source model promptVersion "
                   "human { score label agreement votes { annotator score time } } "
                   "intention { id relation text tail typicality }")


@pytest.mark.parametrize(("selection", "fragments"), [
    (ALL_LINK_FIELDS, ""),
    ("relation intention { tail }", ""),  # the page benchmark's: two properties sent
    ("...L", "fragment L on PostIntention { relation text intention { id tail } }"),
    ("... on PostIntention { label intention { ...I } }",  # fragments are followed
     "fragment I on Intention { text typicality }"),
])
def test_a_page_with_its_intentions_is_one_statement_with_the_batched_answer(
        client: TestClient, monkeypatch: pytest.MonkeyPatch, selection: str,
        fragments: str) -> None:
    page = ('query($after: String) { posts(first: 100, after: $after) { edges { node { id '
            'intentions%s { ' + selection + ' } } } } } ' + fragments)
    variables = {"after": encode_cursor("miko:train:4")}  # MIKO train posts: with intentions
    one = data(client, page % "", variables)
    repo = client.app_state.last_repo  # type: ignore[attr-defined]
    assert repo.round_trips == 1  # the page and every post's intentions together
    batched = data(client, page % "(relation: null)", variables)  # arguments: the dataloader
    assert client.app_state.last_repo.round_trips == 2  # type: ignore[attr-defined]
    assert one == batched
    links = [link for e in one["posts"]["edges"] for link in e["node"]["intentions"]]
    assert len(one["posts"]["edges"]) == 100 and len(links) > 900

    from kg_api.execution import MikoExecutionContext
    monkeypatch.setattr(MikoExecutionContext, "_compile", lambda *_args: None)
    assert data(client, page % "", variables) == one  # the general path everywhere: same answer


def test_the_link_projection_sends_what_is_selected(client: TestClient) -> None:
    from kg_api.execution import MikoExecutionContext
    lean = data(client, '{ posts(first: 30, after: "YzptaWtvOnRyYWluOjQ=") { edges { node { '
                        'intentions { relation intention { tail } } } } } }')
    full = data(client, '{ posts(first: 30, after: "YzptaWtvOnRyYWluOjQ=") { edges { node { '
                        'intentions { relation text source intention { id tail text } } } } } }')
    pairs = [(a, b) for ea, eb in zip(lean["posts"]["edges"], full["posts"]["edges"], strict=True)
             for a, b in zip(ea["node"]["intentions"], eb["node"]["intentions"], strict=True)]
    assert pairs and all(a["relation"] == b["relation"] and
                         a["intention"]["tail"] == b["intention"]["tail"] != "" for a, b in pairs)
    assert all(b["source"] == "miko" and b["text"] and b["intention"]["text"] for _, b in pairs)
    assert MikoExecutionContext.plans_used > 0


def test_hostile_queries_are_rejected_cleanly(client: TestClient) -> None:
    deep = "{ post(id: \"miko:train:129\") { " + "similarPosts { post { " * 25 + "id" + " } }" * 25 + " } }"
    body = gql(client, deep)
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "fields deep; the limit is 10 (MIKO_API_MAX_DEPTH)" in body["errors"][0]["message"]

    aliases = "{ " + " ".join(f"a{i}: relationStats {{ edges }}" for i in range(1000)) + " }"
    body = gql(client, aliases)  # over the token limit: the parser stops
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "tokens" in body["errors"][0]["message"] and body.get("data") is None

    hidden = ("query { ...F } fragment F on Query { "
              + " ".join(f"x{i}: post(id: \"a\") {{ id }}" for i in range(40)) + " }")
    body = gql(client, hidden)
    assert "aliases" in body["errors"][0]["message"].lower() and body.get("data") is None

    circular = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    body = gql(client, circular)
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

    body = gql(client, "{ searchIntentions(text: \"x\", k: 1000000) { score } }")
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert err["message"] == "`k` must be between 1 and 100 (got 1000000)"
    body = gql(client, "{ posts(first: 0) { totalCount } }")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = gql(client, "{ posts(after: \"!!not-a-cursor\") { totalCount } }")
    assert "cursor" in body["errors"][0]["message"]


@pytest.mark.parametrize("text", [
    "it's \"quoted\" `backtick` $param // comment",
    "x'}) DETACH DELETE n //",
    "zero\u200bwidth\u200d joiner",
    "AND OR NOT ( [ { ~ * ? \\ / :",
])
def test_hostile_text_is_just_text(client: TestClient, text: str) -> None:
    d = data(client, "query($t: String!) { searchIntentions(text: $t, k: 3) { score } "
                     "posts(filter: {text: $t}) { edges { node { id } } } }", {"t": text})
    assert len(d["searchIntentions"]) == 3
    counts = data(client, "{ posts { totalCount } }")
    assert counts["posts"]["totalCount"] == 884 + len(EXTRA)


def test_error_shape_is_locked(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    body = gql(client, "{ searchIntentions(text: \"x\", k: 0) { score } }")
    assert body == {"data": None, "errors": [{
        "message": "`k` must be between 1 and 100 (got 0)",
        "locations": [{"line": 1, "column": 3}], "path": ["searchIntentions"],
        "extensions": {"code": "BAD_USER_INPUT"}}]}
    body = gql(client, "{ nope }")
    assert set(body["errors"][0]) == {"message", "locations", "extensions"}
    assert body["errors"][0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}

    from kg_api.repository import GraphRepository

    async def boom(self: Any, *a: Any, **k: Any) -> Any:
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(GraphRepository, "relation_stats", boom)
    response = client.post("/graphql", json={"query": "{ relationStats { edges } }"})
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.json()["errors"] == [{
        "message": "Internal server error.", "locations": [{"line": 1, "column": 3}],
        "path": ["relationStats"], "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]

    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json() == {"errors": [{"message": "Not Found", "extensions": {"code": "NOT_FOUND"}}]}


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "worker": os.getpid()}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"embedding_model": True, "neo4j": True, "indexes_online": True}


def test_graphiql_page_is_served(client: TestClient) -> None:
    page = client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_query_embeddings_are_cached(client: TestClient) -> None:
    emb = client.app_state.embedder  # type: ignore[attr-defined]
    before = emb.hits
    for _ in range(3):
        data(client, '{ searchPosts(text: "a rainy day in the city", k: 2) { score } }')
    assert emb.hits - before >= 2


def test_schema_file_matches_the_code() -> None:
    path = Path(__file__).resolve().parents[2] / "schema" / "schema.graphql"
    assert path.read_text() == schema_sdl(), "run `miko api schema > schema/schema.graphql`"


def test_request_time_limit(settings: Any, embedder: Any) -> None:
    from tests.conftest import SlowEmbedder

    app = create_app(settings.model_copy(update={"api_request_timeout_s": 0.5}),
                     embedder=SlowEmbedder(embedder, 1.5))
    with TestClient(app) as c:
        response = c.post("/graphql", json={"query": '{ searchPosts(text: "slow") { score } }'})
    assert response.status_code == 504
    assert response.json() == {"errors": [{
        "message": "the request ran past the time limit of 0.5s", "extensions": {"code": "TIMEOUT"}}]}


def test_intentions_of_one_relation_paginate_completely(client: TestClient) -> None:
    seen: list[str] = []
    after = None
    while True:
        d = data(client, 'query($a: String) { intentions(relation: OPEN, first: 100, after: $a) '
                         '{ totalCount pageInfo { hasNextPage endCursor } '
                         'edges { node { id relation } } } }', {"a": after})
        page = d["intentions"]
        assert {e["node"]["relation"] for e in page["edges"]} <= {"OPEN"}
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    stats = data(client, "{ relationStats { relation intentions } }")["relationStats"]
    expected = next(s["intentions"] for s in stats if s["relation"] == "OPEN")
    assert len(seen) == len(set(seen)) == page["totalCount"] == expected


KNOWN_CODES = {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED",
               "QUERY_TOO_COSTLY", "BAD_REQUEST"}


@pytest.mark.parametrize("mode", ["valid", "invalid"])
def test_fuzzed_queries_never_get_a_5xx_or_an_unmasked_error(client: TestClient, mode: str) -> None:
    """Property-based: queries generated from the schema (valid ones, and ones with one schema
    violation) get a 200 or 400 with errors in the one shape, never a 5xx or an internal error."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis_graphql import Mode, queries

    @settings(max_examples=120, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(queries(schema_sdl(), mode=Mode.POSITIVE if mode == "valid" else Mode.NEGATIVE,
                   allow_x00=True))
    def check(query: object) -> None:
        response = client.post("/graphql", json={"query": str(query)})
        assert response.status_code in (200, 400), (query, response.text)
        body = response.json()
        for error in body.get("errors", []):
            assert set(error) <= {"message", "locations", "path", "extensions"}, error
            assert error["extensions"]["code"] in KNOWN_CODES, (query, error)

    check()
