"""The Starlette application: /graphql (strawberry), /healthz and /readyz; and ``run_server``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import neo4j
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL

from kg_api.context import Context
from kg_api.embedding import QueryEmbedder
from kg_api.errors import GraphUnavailableError, KGApiError, error_body
from kg_api.middleware import BodyLimit, ConcurrencyLimit, TimeLimit
from kg_api.repository import GraphRepository
from kg_api.schema import build_schema
from kg_builder.core.errors import EmbeddingModelMismatchError
from kg_builder.core.settings import Settings
from kg_builder.embeddings import load_query_embedder
from kg_builder.embeddings.base import Embedder
from kg_builder.graph.driver import make_async_driver
from kg_builder.graph.queries.admin import our_indexes

log = logging.getLogger("kg_api")


class State:
    """Process-wide resources, created in the lifespan (or passed in by tests)."""

    def __init__(self, settings: Settings, driver: neo4j.AsyncDriver | None = None,
                 embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.driver = driver
        self.embedder = QueryEmbedder(embedder, settings.api_query_cache_size) if embedder else None
        self.model_error: EmbeddingModelMismatchError | None = None
        self.last_repo: GraphRepository | None = None

    def repository(self, timeout_s: float | None = None) -> GraphRepository:
        if self.driver is None:
            raise GraphUnavailableError("the service is starting; retry shortly")
        return GraphRepository(self.driver, self.settings.neo4j_database,
                               timeout_s or self.settings.api_request_timeout_s,
                               self.settings.api_search_candidates)

    async def check_model(self) -> None:
        """Record (for readiness and searches) whether the graph's embedding model is ours."""
        if self.embedder is None:
            return
        recorded = await self.repository().recorded_embedding_model()
        self.model_error = EmbeddingModelMismatchError.check(
            *recorded, self.embedder.model_name, self.embedder.dimension,
            user="the API embeds queries with") if recorded else None


GRAPHIQL_DIR = Path(__file__).parent / "static" / "graphiql"
GRAPHIQL_PATH = "/graphiql-static"
# Neo4j Browser loads the guide and the style on connect (browser.post_connect_cmd, written by
# `miko neo4j`) from here, cross-origin: read-only files, so any origin may read them.
BROWSER_GUIDE_DIR = Path(__file__).parent / "static" / "neo4j-browser"
BROWSER_GUIDE_PATH = "/neo4j-browser"


class CrossOriginFiles:
    """Static files that any origin may fetch (Access-Control-Allow-Origin: *)."""

    def __init__(self, directory: Path) -> None:
        self.files = StaticFiles(directory=directory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"access-control-allow-origin", b"*")]
            await send(message)

        await self.files(scope, receive, send_with_cors)


@functools.cache
def graphiql_html() -> str:
    return (GRAPHIQL_DIR / "index.html").read_text(encoding="utf-8")


class MikoGraphQL(GraphQL[Context, None]):
    def __init__(self, state: State) -> None:
        super().__init__(build_schema(state.settings),
                         graphql_ide="graphiql" if state.settings.api_graphiql else None,
                         allow_queries_via_get=True)
        self.state = state

    def encode_json(self, data: object) -> bytes:
        """orjson: a page of 50 posts with their intentions (65 KB) encodes 8x faster than
        with the standard library, which took 7% of the server's time on that query."""
        return orjson.dumps(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """503 with Retry-After, not 200, when the graph was unavailable for the whole answer;
        504 in the one error shape when execution ran past the time limit."""
        if isinstance(response_data, dict) and response_data.get("errors"):
            timeouts = [e for e in response_data["errors"]
                        if e.get("extensions", {}).get("code") == "TIMEOUT"]
            if timeouts:
                return JSONResponse(error_body(timeouts[0]["message"], "TIMEOUT"), status_code=504)
        response = super().create_response(response_data, sub_response)
        if isinstance(response_data, dict) and response_data.get("errors"):
            codes = {e.get("extensions", {}).get("code") for e in response_data["errors"]}
            data = response_data.get("data")
            if codes == {"SERVICE_UNAVAILABLE"} and (
                    data is None or all(v is None for v in data.values())):
                response.status_code = 503
                response.headers["retry-after"] = "2"
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the files shipped in the package: the page works offline."""
        static = f"{request.scope.get('root_path', '')}{GRAPHIQL_PATH}"
        return HTMLResponse(graphiql_html().replace("__STATIC__", static))

    async def get_context(self, request: Any, response: Any) -> Context:
        st = self.state
        if st.embedder is None:
            raise GraphUnavailableError("the service is starting; retry shortly")
        repo = st.repository()
        st.last_repo = repo  # read by tests and the benchmark to count round trips
        return Context(repo=repo, embedder=st.embedder, settings=st.settings,
                       model_error=st.model_error)


def create_app(settings: Settings | None = None, driver: neo4j.AsyncDriver | None = None,
               embedder: Embedder | None = None) -> Starlette:
    """The ASGI app. Without a driver/embedder, the lifespan creates them from the settings."""
    settings = settings or Settings()
    state = State(settings, driver, embedder)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned_driver = state.driver is None
        if state.driver is None:
            # Short connection timeouts: Neo4j down means 503 within a couple of seconds.
            state.driver = make_async_driver(settings, connection_timeout_s=2.0)
        if state.embedder is None:
            model = await asyncio.to_thread(load_query_embedder, settings)
            state.embedder = QueryEmbedder(model, settings.api_query_cache_size)
        try:
            await state.check_model()
        except Exception as exc:  # Neo4j not up yet: /readyz says so
            log.warning("model check deferred: %s", exc)
        # torch and transformers leave millions of long-lived objects; without this, each full
        # collection walks them all and stalls requests for 100 ms or more (seen as p99 spikes).
        gc.collect()
        gc.freeze()
        yield
        if state.embedder is not None:
            state.embedder.close()
        if owned_driver and state.driver is not None:
            await state.driver.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "worker": os.getpid()})  # which process answered

    async def readyz(request: Request) -> Response:
        checks: dict[str, Any] = {"embedding_model": state.embedder is not None}
        try:
            await state.check_model()
            indexes = {i["name"]: i["state"] for i in await state.repository(5.0).index_states()}
            ours = our_indexes()  # other applications' indexes are none of our business
            not_online = sorted(n for n in ours if indexes.get(n) not in (None, "ONLINE"))
            missing = sorted(n for n in ours if n not in indexes)
            checks["neo4j"] = True
            checks["indexes_online"] = not not_online and not missing
            if not_online:
                checks["indexes_not_online"] = not_online
            if missing:
                checks["indexes_missing"] = missing
        except Exception as exc:
            checks["neo4j"] = False
            checks["error"] = str(exc) if isinstance(exc, KGApiError) else type(exc).__name__
        if state.model_error:
            checks["embedding_model"] = False
            checks["error"] = str(state.model_error)
        ready = all(checks.get(k) is True for k in ("embedding_model", "neo4j", "indexes_online"))
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                            status_code=200 if ready else 503)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 400: "BAD_REQUEST"}
        return JSONResponse(error_body(exc.detail, codes.get(exc.status_code, "HTTP_ERROR")),
                            status_code=exc.status_code)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, KGApiError)
        return JSONResponse(error_body(str(exc), exc.code), status_code=exc.status)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("Internal server error.", "INTERNAL_SERVER_ERROR"),
                            status_code=500)

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: http_error, KGApiError: api_error, Exception: server_error,
    }
    app = Starlette(
        routes=[
            Route("/graphql", MikoGraphQL(state), methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Mount(BROWSER_GUIDE_PATH, CrossOriginFiles(BROWSER_GUIDE_DIR), name="neo4j-browser"),
            *([Mount(GRAPHIQL_PATH, StaticFiles(directory=GRAPHIQL_DIR), name="graphiql")]
              if settings.api_graphiql else []),
        ],
        lifespan=lifespan,
        exception_handlers=handlers,
    )
    app.state.miko = state
    # Outermost last: the body cap and the concurrency limit answer before anything else runs.
    app.add_middleware(TimeLimit, seconds=settings.api_request_timeout_s)
    app.add_middleware(ConcurrencyLimit, limit=settings.api_max_concurrent)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    return app


def run_server(settings: Settings, host: str, port: int) -> None:
    """Serve the API with uvicorn until stopped (MIKO_API_WORKERS processes)."""
    import uvicorn

    if settings.api_workers > 1:  # one acceptor hands each connection to the least busy worker
        from kg_api.workers import run_workers

        run_workers(settings, host, port, settings.api_workers)
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning",
                    timeout_graceful_shutdown=5)
