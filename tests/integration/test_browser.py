"""Neo4j Browser, opened in a real browser (Debian's chromium driven by playwright)."""

from __future__ import annotations

import html
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def artefact(settings: Any, name: str) -> Path:
    """Where a test keeps a screenshot for people to look at (kept after the run)."""
    folder = Path(os.environ.get("MIKO_TEST_ARTEFACTS", settings.cache_dir / "test-artefacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


# What Neo4j Browser 5.24 fetches from the internet on Community whatever the settings (it
# hard-codes outgoing connections on for Community): a font, and two scripts after login; and,
# when one of its own scripts fails (seen once, on a loaded CI machine), an error report to its
# Sentry project. The test blocks them all; any other outside request fails it.
BROWSER_OUTSIDE = {"fonts.googleapis.com", "cdn.segment.com", "canny.io",
                   "o110884.ingest.sentry.io"}


def test_neo4j_browser_shows_the_guide_and_draws_with_the_style(
    page: Any, settings: Any, driver: Any, embedder: Any
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
    config = {r["name"]: r["value"] for r in driver.execute_query(
        "CALL dbms.clientConfig() YIELD name, value RETURN name, value",
        database_=settings.neo4j_database).records}
    assert config["client.allow_telemetry"] == "false"
    assert config["browser.post_connect_cmd"] == (
        f"style {settings.browser_guide_url}miko.grass; play {settings.browser_guide_url}guide.html")
    outside: list[str] = []
    local = ("http://localhost", "http://127.0.0.1", "ws://localhost", "data:", "blob:")

    def only_local(route: Any) -> None:
        if route.request.url.startswith(local):
            route.continue_()
        else:
            outside.append(urlsplit(route.request.url).netloc)
            route.abort()

    page.route("**/*", only_local)
    # The guide and the style come from the API, on the port the server's settings name.
    with serving_api(settings, embedder, port=settings.api_port):
        url = f"http://localhost:{settings.neo4j_http_port}/browser/"
        page.goto(url, wait_until="networkidle", timeout=60_000)
        assert "Neo4j Browser" in page.title()
        # The connect form: log in as a person would.
        page.wait_for_selector("[data-testid='username']", timeout=30_000)
        page.fill("[data-testid='boltaddress']", f"bolt://localhost:{settings.neo4j_bolt_port}")
        page.fill("[data-testid='username']", settings.neo4j_user)
        page.fill("[data-testid='password']", settings.neo4j_password.get_secret_value())
        page.click("[data-testid='connect']")
        # On connect: the style is loaded and the guide opens.
        page.wait_for_selector("text=The MIKO intention graph", timeout=30_000)
        page.wait_for_selector(f"text=:style {settings.browser_guide_url}miko.grass", timeout=10_000)
        # The guide's first query, clicked into the editor and run, draws a post with the style.
        page.locator("pre.runnable").first.click()
        assert "MATCH (p:Post)" in page.inner_text("[data-testid='activeEditor']").replace("\xa0", " ")
        page.click("[data-testid='activeEditor']")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("text=Post (1)", timeout=30_000)
        page.wait_for_timeout(1000)  # the force layout settles
        fills = set(page.eval_on_selector_all(
            "svg circle", "els => els.map(e => (e.getAttribute('fill') || '').toUpperCase())"))
        page.screenshot(path=str(artefact(settings, "neo4j-browser-guide.png")))
        # Our own post too, drawn with the relation colours of the style.
        page.click("[data-testid='activeEditor']")
        page.keyboard.type("MATCH (p:Post {id: 'browser:1'})-[r]->(i:Intention) RETURN p, r, i")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("text=X_WANT (1)", timeout=30_000)
        page.wait_for_selector("text=O_REACT (1)", timeout=10_000)
        # The guide's vector search (Cypher 25 SEARCH in the one intention index, filtered by
        # relation) runs from the Browser on this server and answers rows.
        guide = (Path(__file__).resolve().parents[2] / "kg_api" / "static" / "neo4j-browser"
                 / "guide.html").read_text(encoding="utf-8")
        search = next(html.unescape(m) for m in re.findall(
            r'<pre class="pre-scrollable code runnable">(.*?)</pre>', guide, re.S)
            if "VECTOR INDEX intention_embedding" in m)
        page.click("[data-testid='activeEditor']")
        page.keyboard.type(" ".join(search.split()))
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("text=inspire runners.", timeout=30_000)
        page.wait_for_selector("text=nearest", timeout=10_000)
        page.unroute("**/*")
    assert "#1F4E79" in fills  # posts: the style's dark blue, not the Browser's default colour
    assert len(fills & {"#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1",
                        "#FF9DA7", "#9C755F", "#BAB0AC"}) >= 1
    assert set(outside) <= BROWSER_OUTSIDE, outside


@contextmanager
def serving_api(settings: Any, embedder: Any, port: int = 0) -> Iterator[str]:
    """The API on a loopback port (a free one by default), in a thread: what a browser reaches."""
    import uvicorn

    from kg_api.app import create_app

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            pytest.fail(f"port {port} is taken: stop what runs there or set MIKO_TEST_API_PORT "
                        f"({exc})")
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
    page: Any, settings: Any, empty_graph: Any, driver: Any, embedder: Any, tmp_path: Path
) -> None:
    from kg_builder.core.models import IntentionRecord, PostRecord
    from kg_builder.core.relations import Relation
    from kg_builder.graph.schema import await_indexes
    from kg_builder.loading.loader import GraphLoader

    post = PostRecord(id="graphiql:1", text="Front row at the concert tonight", source="browsertest",
                      intentions=[IntentionRecord(
                          relation=Relation.X_WANT,
                          text="After posting this Tweet, the user wants to share the excitement.")])
    GraphLoader(driver, embedder, settings.neo4j_database, defer_vector_indexes=False).load(
        [post], progress=False)
    await_indexes(driver, settings.neo4j_database)
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
