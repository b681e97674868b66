"""Shared fixtures. Graph tests run against the real Neo4j server that scripts/test.sh starts.

The suite wipes the graph it talks to, so it refuses any server whose data folder is not marked
scratch (scripts/test.sh starts one with `miko neo4j start --scratch`, on its own ports and data
folder); the server itself is asked where its data lives.
A graph test never skips: no server means a failure that says how to start one.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MIKO_DATA_DIR", ROOT.parent / "shared" / "data"))
MIKO_DIR = DATA_DIR / "miko"
SARCASM_DIR = DATA_DIR / "twitter_sarcasm"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (MIKO_DIR / "train.json").exists():
        pytest.fail(f"the MIKO data is missing at {MIKO_DIR}: set MIKO_DATA_DIR to ../shared/data")
    return DATA_DIR


@pytest.fixture(scope="session")
def settings() -> Any:
    from kg_builder.core.settings import Settings

    return Settings()


@pytest.fixture(scope="session")
def driver(settings: Any) -> Iterator[Any]:
    from kg_builder.graph.driver import connect
    from kg_builder.graph.scratch import scratch_problem

    drv = connect(settings)  # raises (test fails) if the server is not there
    # The suite wipes the graph it uses: only a server that says its data folder is marked
    # scratch will do, whatever the environment or a .env names.
    problem = scratch_problem(drv, settings.neo4j_database)
    if problem is not None:
        drv.close()
        pytest.exit(f"graph tests wipe the database they use, and {problem}. Run them with "
                    "./scripts/test.sh, which starts a scratch server of its own", returncode=2)
    yield drv
    drv.close()


@pytest.fixture(scope="session")
def embedder(settings: Any) -> Any:
    from kg_builder.embeddings import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.embedding_model, batch_size=64)


class SlowEmbedder:
    """The real embedder, delayed: to hold a request in flight."""

    def __init__(self, inner: Any, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds
        self.model_name, self.dimension = inner.model_name, inner.dimension

    def embed(self, texts: Any) -> Any:
        time.sleep(self.seconds)
        return self.inner.embed(texts)


def wipe(driver: Any, database: str) -> None:
    with driver.session(database=database) as session:
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


@pytest.fixture()
def empty_graph(driver: Any, settings: Any, embedder: Any) -> Any:
    """A wiped graph with the schema applied."""
    from kg_builder.graph.schema import init_schema

    wipe(driver, settings.neo4j_database)
    init_schema(driver, settings.neo4j_database, embedder.model_name, embedder.dimension)
    return driver


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    # torch's ONNX exporter loads triton, whose nanobind bindings print pages of "leaked ..."
    # lines while the interpreter shuts down, burying pytest's summary. Leave right after the
    # summary with pytest's own exit status (nothing of ours needs interpreter shutdown).
    if _exit_status and "torch" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
