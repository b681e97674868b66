"""With Neo4j down the API answers 503 SERVICE_UNAVAILABLE within seconds, health stays up."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence

import numpy as np
import pytest
import strawberry
from starlette.testclient import TestClient

from kg_api.app import create_app
from kg_builder.core.settings import Settings
from kg_builder.embeddings import Vectors


class TinyEmbedder:
    model_name = "tiny"
    dimension = 4

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.full((len(texts), 4), 0.5, dtype=np.float32)


def test_neo4j_down_is_a_fast_503() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(_env_file=None, neo4j_uri=f"bolt://127.0.0.1:{port}")  # type: ignore[call-arg]
    with TestClient(create_app(settings, embedder=TinyEmbedder())) as client:
        started = time.perf_counter()
        answer = client.post("/graphql", json={"query": "{ relationStats { edges } }"})
        assert time.perf_counter() - started < 5
        assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
        assert answer.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["neo4j"] is False


CALLS: list[int] = []


@strawberry.type
class Busy:
    @strawberry.field
    def work(self) -> int:
        CALLS.append(1)
        time.sleep(0.01)  # blocks the event loop as CPU-bound work would
        return 1


@strawberry.type
class BusyQuery:
    @strawberry.field
    def busy(self) -> list[Busy]:
        return [Busy() for _ in range(200)]


def test_time_limit_stops_cpu_bound_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request that never yields to the event loop (here: 200 fields that each block for
    10 ms) still stops at the time limit: the remaining fields are not run, the answer is one
    504 TIMEOUT in the error shape."""
    CALLS.clear()
    monkeypatch.setattr("kg_api.schema.Query", BusyQuery)
    settings = Settings(_env_file=None, api_request_timeout_s=0.3)  # type: ignore[call-arg]
    with TestClient(create_app(settings, embedder=TinyEmbedder())) as client:
        answer = client.post("/graphql", json={"query": "{ busy { work } }"})
    assert answer.status_code == 504
    assert answer.json() == {"errors": [{"message": "the request ran past the time limit of 0.3s",
                                         "extensions": {"code": "TIMEOUT"}}]}
    assert 10 <= len(CALLS) < 100  # ran until the deadline, then nothing more


def test_the_browser_guide_is_readable_from_any_origin() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(_env_file=None, neo4j_uri=f"bolt://127.0.0.1:{port}")  # type: ignore[call-arg]
    with TestClient(create_app(settings, embedder=TinyEmbedder())) as client:
        answer = client.get("/neo4j-browser/guide.html",
                            headers={"Origin": "http://localhost:7474"})
        assert answer.status_code == 200 and "The MIKO intention graph" in answer.text
        assert answer.headers["access-control-allow-origin"] == "*"
        preflight = client.options("/neo4j-browser/miko.grass", headers={
            "Origin": "http://localhost:7474", "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 200
        assert client.post("/neo4j-browser/guide.html").status_code == 405  # read-only files


def test_workers_are_chosen_from_cores_and_memory_unless_pinned() -> None:
    from kg_api.workers import MAX_AUTO_WORKERS, WORKER_MEMORY, choose_workers

    auto = Settings(api_workers=0)
    assert choose_workers(auto, cores=2, memory=20 * 2**30)[0] == 2
    assert choose_workers(auto, cores=64, memory=100 * 2**30)[0] == MAX_AUTO_WORKERS
    assert choose_workers(auto, cores=16, memory=3 * WORKER_MEMORY + 1)[0] == 3
    assert choose_workers(auto, cores=4, memory=WORKER_MEMORY // 2)[0] == 1  # never none
    _, why = choose_workers(auto, cores=2, memory=20 * 2**30)
    assert "2 cores, 20.0 GiB available" in why and "MIKO_API_WORKERS pins it" in why
    assert choose_workers(Settings(api_workers=5), cores=2, memory=0) == (5, "MIKO_API_WORKERS")
