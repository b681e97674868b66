"""The Starlette application: /graphql (strawberry), /healthz and /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import neo4j
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL

from kg_api.embedding import QueryEmbedder
from kg_api.errors import GraphUnavailableError, KGApiError
from kg_api.repository import GraphRepository
from kg_api.schema import Context, build_schema
from kg_builder import queries
from kg_builder.embeddings import Embedder
from kg_builder.settings import Settings

log = logging.getLogger("kg_api")


def error_body(message: str, code: str) -> dict[str, Any]:
    """The API's one error shape, also used outside GraphQL (404, 405, 504, 500)."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


class State:
    """Process-wide resources, created in the lifespan (or passed in by tests)."""

    def __init__(self, settings: Settings, driver: neo4j.AsyncDriver | None = None,
                 embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.driver = driver
        self.embedder = QueryEmbedder(embedder, settings.api_query_cache_size) if embedder else None
        self.model_error: str | None = None
        self.last_repo: GraphRepository | None = None


class MikoGraphQL(GraphQL[Context, None]):
    def __init__(self, state: State) -> None:
        super().__init__(build_schema(state.settings),
                         graphql_ide="graphiql" if state.settings.api_graphiql else None,
                         allow_queries_via_get=True)
        self.state = state

    async def get_context(self, request: Any, response: Any) -> Context:
        st = self.state
        if st.driver is None or st.embedder is None:
            raise GraphUnavailableError("the service is starting; retry shortly")
        repo = GraphRepository(st.driver, st.settings.neo4j_database,
                               st.settings.api_request_timeout_s)
        st.last_repo = repo  # read by tests and the benchmark to count round trips
        return Context(repo=repo, embedder=st.embedder, settings=st.settings)


class TimeLimit:
    """Answer 504 in the error shape when a request runs past the time limit (nothing sent yet)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive, tracking_send), self.seconds)
        except TimeoutError:
            if started:
                raise
            body = json.dumps(error_body(
                f"the request ran past the time limit of {self.seconds:g}s", "TIMEOUT")).encode()
            await send({"type": "http.response.start", "status": 504,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, driver: neo4j.AsyncDriver | None = None,
               embedder: Embedder | None = None) -> Starlette:
    """The ASGI app. Without a driver/embedder, the lifespan creates them from the settings."""
    settings = settings or Settings()
    state = State(settings, driver, embedder)
    graphql_app = MikoGraphQL(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned_driver = state.driver is None
        if state.driver is None:
            state.driver = neo4j.AsyncGraphDatabase.driver(
                settings.bolt_uri,
                auth=(settings.neo4j_user, settings.neo4j_password.get_secret_value()),
                connection_timeout=settings.neo4j_connect_timeout_s,
                notifications_min_severity="OFF",
            )
        if state.embedder is None:
            model = await asyncio.to_thread(load_query_embedder, settings)
            state.embedder = QueryEmbedder(model, settings.api_query_cache_size)
        try:
            await _check_model(state)
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
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, Any] = {"embedding_model": state.embedder is not None}
        try:
            if state.driver is None:
                raise GraphUnavailableError("no driver yet")
            await _check_model(state)
            repo = GraphRepository(state.driver, settings.neo4j_database, 5.0)
            indexes = await repo.index_states()
            not_online = sorted(i["name"] for i in indexes if i["state"] != "ONLINE")
            checks["neo4j"] = True
            checks["indexes_online"] = not not_online
            if not_online:
                checks["indexes_not_online"] = not_online
        except Exception as exc:
            checks["neo4j"] = False
            checks["error"] = str(exc) if isinstance(exc, KGApiError) else type(exc).__name__
        if state.model_error:
            checks["embedding_model"] = False
            checks["error"] = state.model_error
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
        status = 503 if isinstance(exc, GraphUnavailableError) else 400
        return JSONResponse(error_body(str(exc), exc.code), status_code=status)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("Internal server error.", "INTERNAL_SERVER_ERROR"),
                            status_code=500)

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: http_error, KGApiError: api_error, Exception: server_error,
    }
    app = Starlette(
        routes=[
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
        exception_handlers=handlers,
    )
    app.state.miko = state
    app.add_middleware(TimeLimit, seconds=settings.api_request_timeout_s)
    return app


def load_query_embedder(settings: Settings) -> Embedder:
    """The query embedder the settings ask for: ONNX when it agrees with torch (cosine >= 0.99)."""
    from kg_builder.embeddings import SentenceTransformerEmbedder

    torch_model = SentenceTransformerEmbedder(
        settings.embedding_model, settings.embedding_device, settings.embedding_batch_size)
    choice = settings.api_query_embedder
    if choice == "torch":
        return torch_model
    try:
        from kg_builder.onnx_embedder import OnnxEmbedder, agreement

        onnx_model = OnnxEmbedder(settings.embedding_model, settings.cache_dir)
        cosine = agreement(onnx_model, torch_model)
    except Exception as exc:
        if choice == "onnx":
            raise
        log.warning("ONNX query embedder unavailable (%s); using torch", exc)
        return torch_model
    if cosine < 0.99:
        if choice == "onnx":
            raise GraphUnavailableError(
                f"the ONNX export agrees with the model only to cosine {cosine:.4f} (< 0.99)")
        log.warning("ONNX query embedder agrees only to cosine %.4f; using torch", cosine)
        return torch_model
    log.info("query embedder: ONNX Runtime (agreement with torch: cosine %.5f)", cosine)
    return onnx_model


async def _check_model(state: State) -> None:
    """Fail readiness (not the process) when the graph records another embedding model."""
    if state.driver is None or state.embedder is None:
        return
    records, _, _ = await state.driver.execute_query(
        queries.read_embedding_meta(),
        database_=state.settings.neo4j_database, routing_=neo4j.RoutingControl.READ)
    if records:
        model, dim = records[0]["model"], records[0]["dimension"]
        if model != state.embedder.model_name or dim != state.embedder.dimension:
            state.model_error = (
                f"the graph was built with {model!r} ({dim} dims) but the API embeds queries with "
                f"{state.embedder.model_name!r} ({state.embedder.dimension} dims): set "
                f"MIKO_EMBEDDING_MODEL={model} or run `miko db reembed`")
            return
    state.model_error = None
