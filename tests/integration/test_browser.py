"""Neo4j Browser, opened in a real browser (Debian's chromium driven by playwright)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.graph

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        yield context.new_page()
        browser.close()


def test_neo4j_browser_opens_connects_and_shows_the_graph(
    page: Any, settings: Any, driver: Any, embedder: Any, tmp_path: Path
) -> None:
    from kg_builder.core.models import IntentionRecord, PostRecord
    from kg_builder.core.relations import Relation
    from kg_builder.loading.loader import GraphLoader

    post = PostRecord(id="browser:1", text="Sunset run by the river", source="browsertest",
                      intentions=[
                          IntentionRecord(
                              relation=Relation.X_WANT,
                              text="After posting this Tweet, the user wants to inspire runners."),
                          IntentionRecord(
                              relation=Relation.O_REACT,
                              text="After viewing this Tweet, others feel motivated."),
                      ])
    GraphLoader(driver, embedder, settings.neo4j_database, defer_vector_indexes=False).load(
        [post], progress=False)
    url = f"http://localhost:{settings.neo4j_http_port}/browser/"
    page.goto(url, wait_until="networkidle", timeout=60_000)
    assert "Neo4j Browser" in page.title()
    # The connect form, pre-filled with our Bolt port: log in as a person would.
    page.wait_for_selector("[data-testid='username']", timeout=30_000)
    page.fill("[data-testid='boltaddress']", f"bolt://localhost:{settings.neo4j_bolt_port}")
    page.fill("[data-testid='username']", settings.neo4j_user)
    page.fill("[data-testid='password']", settings.neo4j_password.get_secret_value())
    page.click("[data-testid='connect']")
    page.wait_for_selector("text=You are connected as user", timeout=30_000)
    page.click("[data-testid='activeEditor']")
    page.keyboard.type("MATCH (p:Post {id: 'browser:1'})-[r]->(i:Intention) RETURN p, r, i")
    page.keyboard.press("Control+Enter")
    # The result frame draws the graph: its legend counts the labels and types it shows.
    page.wait_for_selector("text=Intention (2)", timeout=30_000)
    page.wait_for_selector("text=X_WANT (1)", timeout=10_000)
    page.wait_for_selector("text=O_REACT (1)", timeout=10_000)
    page.screenshot(path=str(tmp_path / "browser.png"))


@contextmanager
def serving_api(settings: Any, embedder: Any) -> Iterator[str]:
    """The API on a free loopback port, in a thread: what a browser would reach."""
    import uvicorn

    from kg_api.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, embedder=embedder), host="127.0.0.1",
                                           port=port, log_level="critical",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_graphiql_works_offline_runs_a_query_and_documents_the_schema(
    page: Any, settings: Any, driver: Any, embedder: Any, tmp_path: Path
) -> None:
    from kg_builder.core.models import IntentionRecord, PostRecord
    from kg_builder.core.relations import Relation
    from kg_builder.loading.loader import GraphLoader

    post = PostRecord(id="graphiql:1", text="Front row at the concert tonight", source="browsertest",
                      intentions=[IntentionRecord(
                          relation=Relation.X_WANT,
                          text="After posting this Tweet, the user wants to share the excitement.")])
    GraphLoader(driver, embedder, settings.neo4j_database, defer_vector_indexes=False).load(
        [post], progress=False)
    outside: list[str] = []
    with serving_api(settings, embedder) as base:
        def only_local(route: Any) -> None:
            if route.request.url.startswith((base, "data:", "blob:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)
        page.goto(f"{base}/graphql", wait_until="networkidle", timeout=60_000)
        page.wait_for_selector(".graphiql-editor", timeout=30_000)
        assert "RelationSearch" in page.inner_text(".graphiql-query-editor")  # the prefilled tab
        page.click(".graphiql-execute-button")
        page.wait_for_selector(".result-window >> text=share the excitement", timeout=30_000)
        result = page.inner_text(".result-window")
        assert '"searchIntentions"' in result and '"score"' in result
        page.click("[aria-label='Show Documentation Explorer']")
        docs = page.locator(".graphiql-doc-explorer")
        docs.get_by_text("Query", exact=True).first.click(timeout=10_000)
        docs.get_by_text("searchIntentions", exact=True).first.wait_for(timeout=10_000)
        assert "PostsWithIntentions" in page.inner_text(".graphiql-tabs")
        page.screenshot(path=str(tmp_path / "graphiql.png"))
        page.unroute("**/*")
    assert outside == []
