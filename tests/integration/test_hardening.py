"""Hostile input, hostile queries and faults against the real server: nothing lost, nothing
touched that is not ours, the server stays responsive."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kg_api.app import create_app
from kg_builder.core.errors import LoadInterruptedError
from kg_builder.core.models import PostRecord
from kg_builder.graph.queries.admin import our_indexes
from kg_builder.graph.schema import index_states, init_schema
from kg_builder.graph.scratch import SCRATCH_MARKER, scratch_problem
from kg_builder.loading.loader import GraphLoader
from tests.conftest import SlowEmbedder

pytestmark = pytest.mark.graph


def test_a_record_the_graph_refuses_is_isolated_and_the_rest_loads(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    from kg_builder.core.models import Origin

    bad = PostRecord.model_construct(  # past the reader's checks, as a buggy caller might
        id="too-big", text="fine text", source="s" * 10_000, split=None, image=None,
        key_info=None, intentions=[], benchmark_labels=None, extra={},
        origin=Origin(file="posts.jsonl", line=7))
    records = [PostRecord(id=f"ok-{n}", text=f"post number {n}", source="t") for n in range(5)]
    summary = GraphLoader(empty_graph, embedder, settings.neo4j_database, batch_size=10).load(
        [*records[:2], bad, *records[2:]], progress=False)
    assert summary.posts_loaded == 5
    [rejected] = summary.rejected
    assert (rejected.file, rejected.line) == ("posts.jsonl", 7)
    assert "'too-big'" in rejected.reason
    rows, _, _ = empty_graph.execute_query("MATCH (p:Post) RETURN p.id AS id ORDER BY id",
                                           database_=settings.neo4j_database)
    assert [r["id"] for r in rows] == [f"ok-{n}" for n in range(5)]


class RefusingEmbedder:
    """An embedder that refuses every text, as a broken model install would."""

    def __init__(self, inner: Any) -> None:
        self.model_name, self.dimension = inner.model_name, inner.dimension

    def embed(self, texts: Any) -> Any:
        raise RuntimeError("model weights are corrupt")


def test_a_refusal_that_is_not_about_the_data_stops_the_load(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    """When every record of a batch is refused alike, the load stops with the cause instead of
    rejecting each record of the file in turn; no record is blamed."""
    records = [PostRecord(id=f"ok-{n}", text=f"post number {n}", source="t") for n in range(30)]
    loader = GraphLoader(empty_graph, RefusingEmbedder(embedder), settings.neo4j_database,
                         batch_size=10)
    with pytest.raises(LoadInterruptedError) as caught:
        loader.load(records, progress=False)
    message = str(caught.value)
    assert "every one of the 10 posts of a batch was refused for the same reason" in message
    assert "model weights are corrupt" in message and "rerun the same command" in message
    summary = caught.value.summary
    assert summary.rejected == [] and summary.posts_loaded == 0 and summary.posts_read == 10
    # The first load of an empty graph had dropped our vector indexes: they are back.
    states = {i["name"]: i["state"] for i in index_states(empty_graph, settings.neo4j_database)}
    assert all(states.get(name) == "ONLINE" for name in our_indexes()), states


def test_the_api_refuses_big_bodies_long_strings_and_costly_queries(
    driver: Any, settings: Any, embedder: Any
) -> None:
    app = create_app(settings.model_copy(update={"api_max_body_bytes": 5_000}), embedder=embedder)
    with TestClient(app) as client:
        big = client.post("/graphql", content=b'{"query": "' + b" " * 6_000 + b'{ x }"}',
                          headers={"content-type": "application/json"})
        assert big.status_code == 413
        assert big.json()["errors"][0]["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}
        streamed = client.post("/graphql", content=iter([b" " * 3_000, b" " * 3_000]),
                               headers={"content-type": "application/json"})
        assert streamed.status_code == 413

        long = client.post("/graphql", json={
            "query": "query($n: String!) { keyInfo(kind: EMOTION, name: $n) { name } }",
            "variables": {"n": "j" * 2_001}}).json()
        assert long["data"] is None
        assert long["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "2,001 characters" in long["errors"][0]["message"]

        hostile = ("{ posts(first: 100) { edges { node { similarPosts(k: 100) { post { "
                   "similarPosts(k: 100) { post { id intentions { text } } } } } } } } }")
        started = time.perf_counter()
        costly = client.post("/graphql", json={"query": hostile}).json()
        assert time.perf_counter() - started < 2
        assert costly["data"] is None
        assert costly["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert "over the limit of 100,000" in costly["errors"][0]["message"]


def test_requests_over_the_concurrency_limit_wait_then_get_503(
    driver: Any, settings: Any, embedder: Any
) -> None:
    """Past MIKO_API_MAX_CONCURRENT a request waits in the queue (here at most 0.3 s) and is
    answered if a slot frees in time, else gets 503 with Retry-After; with no queue, at once."""
    query = {"query": '{ searchPosts(text: "slow", k: 1) { score } }'}
    for queue, wait_s in ((8, 0.3), (0, 5.0)):
        app = create_app(settings.model_copy(update={
            "api_max_concurrent": 1, "api_queue_size": queue, "api_queue_wait_s": wait_s}),
            embedder=SlowEmbedder(embedder, 1.5))
        with TestClient(app) as client:
            first: dict[str, Any] = {}

            def hold(client: TestClient = client, first: dict[str, Any] = first) -> None:
                first["status"] = client.post("/graphql", json=query).status_code

            thread = threading.Thread(target=hold)
            thread.start()
            time.sleep(0.5)
            started = time.perf_counter()
            busy = client.post("/graphql", json=query)
            waited = time.perf_counter() - started
            assert (0.25 < waited < 1.0) if queue else waited < 0.25, waited
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert busy.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert client.get("/healthz").status_code == 200  # health checks are never refused
            thread.join()
            assert first["status"] == 200


def test_a_queued_request_is_answered_when_a_slot_frees_in_time(
    driver: Any, settings: Any, embedder: Any
) -> None:
    app = create_app(settings.model_copy(update={"api_max_concurrent": 1, "api_queue_wait_s": 5}),
                     embedder=SlowEmbedder(embedder, 0.6))
    with TestClient(app) as client:
        statuses: list[int] = []
        threads = [threading.Thread(target=lambda n=n: statuses.append(client.post(
            "/graphql", json={"query": f'{{ searchPosts(text: "queued {n}", k: 1) {{ score }} }}'}
        ).status_code)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200, 200, 200]


def test_readiness_is_false_while_one_of_our_indexes_is_missing(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    db = settings.neo4j_database
    app = create_app(settings, embedder=embedder)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        empty_graph.execute_query("DROP INDEX post_text", database_=db)
        try:
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["indexes_missing"] == ["post_text"]
        finally:
            init_schema(empty_graph, db, embedder.model_name, embedder.dimension)
    assert set(our_indexes()) <= {i["name"] for i in index_states(empty_graph, db)}


def test_only_our_vector_indexes_are_dropped(empty_graph: Any, settings: Any, embedder: Any) -> None:
    db = settings.neo4j_database
    empty_graph.execute_query(
        "CREATE VECTOR INDEX other_app_vectors IF NOT EXISTS FOR (n:OtherApp) ON (n.vec) "
        "OPTIONS {indexConfig: {`vector.dimensions`: 8, `vector.similarity_function`: 'cosine'}}",
        database_=db)
    try:
        summary = GraphLoader(empty_graph, embedder, db, defer_vector_indexes=True).load(
            [PostRecord(id="p", text="a post", source="t")], progress=False)
        assert summary.deferred_indexes
        assert "other_app_vectors" in {i["name"] for i in index_states(empty_graph, db)}
    finally:
        empty_graph.execute_query("DROP INDEX other_app_vectors IF EXISTS", database_=db)


def test_the_suite_recognises_its_scratch_server_by_the_server_itself(
    driver: Any, settings: Any
) -> None:
    assert scratch_problem(driver, settings.neo4j_database) is None
    rows, _, _ = driver.execute_query(
        "SHOW SETTINGS YIELD name, value WHERE name = 'server.directories.data' RETURN value",
        database_=settings.neo4j_database)
    marker = Path(rows[0]["value"]).parent / SCRATCH_MARKER
    hidden = marker.with_name(marker.name + ".hidden")
    marker.rename(hidden)
    try:
        problem = scratch_problem(driver, settings.neo4j_database)
        assert problem is not None and "not marked as scratch" in problem
    finally:
        hidden.rename(marker)
