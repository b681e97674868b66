"""The Starlette application: /graphql (strawberry), /healthz and /readyz."""

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
from cross_web import AsyncHTTPRequestAdapter
from cross_web import HTTPException as StrawberryHTTPException
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData

from kg_api.admission import Admission, Budget
from kg_api.context import Context
from kg_api.embedding import query_embedder
from kg_api.errors import REQUEST_ERROR_CODES, GraphUnavailableError, KGApiError, error_body
from kg_api.middleware import BodyLimit, TimeLimit
from kg_api.repository import GraphRepository
from kg_api.schema import build_schema
from kg_api.transport import GRAPHQL_RESPONSE, JSON, media_type, request_data
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
        self.embedder = query_embedder(embedder, settings) if embedder else None
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


HTTP_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
              415: "UNSUPPORTED_MEDIA_TYPE"}
GRAPHIQL_DIR = Path(__file__).parent / "static" / "graphiql"
GRAPHIQL_PATH = "/graphiql-static"
# Neo4j Browser loads the guide and the style on connect (browser.post_connect_cmd, written by
# `miko neo4j`) from here, cross-origin: read-only files, so any origin may read them.
BROWSER_GUIDE_DIR = Path(__file__).parent / "static" / "neo4j-browser"
BROWSER_GUIDE_PATH = "/neo4j-browser"


def cross_origin_files(directory: Path) -> ASGIApp:
    """Static files that any origin may fetch (starlette's CORSMiddleware, GET and HEAD)."""
    return CORSMiddleware(StaticFiles(directory=directory), allow_origins=["*"],
                          allow_methods=["GET", "HEAD"])


@functools.cache
def graphiql_html() -> str:
    return (GRAPHIQL_DIR / "index.html").read_text(encoding="utf-8")


class NegotiatedResponse(Response):
    """strawberry's sub-response, carrying the media type the client's Accept header chose."""

    negotiated = JSON


def error_response(message: str, code: str, status: int, media: str = JSON) -> Response:
    """An error outside execution, in the one shape (with Retry-After on a 503, Allow on a 405)."""
    headers = {"retry-after": "2"} if status == 503 else {"allow": "GET, POST"} if (
        status == 405) else None
    return Response(orjson.dumps(error_body(message, code)), status_code=status,
                    media_type=media, headers=headers)


class MikoGraphQL(GraphQL[Context, None]):
    """strawberry's ASGI view with our request parsing (``transport``), media types and
    statuses (the GraphQL-over-HTTP spec), and every refusal in the one error shape."""

    def __init__(self, state: State) -> None:
        super().__init__(build_schema(state.settings),
                         graphql_ide="graphiql" if state.settings.api_graphiql else None,
                         allow_queries_via_get=True)
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the route serves HTTP only; strawberry's websockets unused
            return
        request = Request(scope=scope, receive=receive)
        media = media_type(request.headers.get("accept"))
        try:
            response = await self.run(request)
        except ClientDisconnect:
            return  # the client left mid-body: nobody to answer, nothing went wrong here
        except StrawberryHTTPException as exc:
            response = error_response(exc.reason, HTTP_CODES.get(exc.status_code, "BAD_REQUEST"),
                                      exc.status_code, media)
        except KGApiError as exc:
            response = error_response(str(exc), exc.code, exc.status, media)
        await response(scope, receive, send)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.__class__ = NegotiatedResponse
        assert isinstance(sub_response, NegotiatedResponse)
        sub_response.negotiated = media_type(request.headers.get("accept"))
        return sub_response

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        body = await request.get_body() if request.method != "GET" else b""
        return request_data(request.method, request.content_type, body, request.query_params)

    def encode_json(self, data: object) -> bytes:
        """orjson: a page of 50 posts with their intentions (65 KB) encodes 8x faster than
        with the standard library, which took 7% of the server's time on that query."""
        return orjson.dumps(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """The status and media type for an answer (the GraphQL-over-HTTP spec's rules):

        - 504 in the one error shape when execution ran past the time limit;
        - 503 with Retry-After when the graph was unavailable (or the server too busy) for the
          whole answer;
        - a request that names no operation it holds (``BAD_REQUEST``): 400;
        - a request refused before execution (parse, validation, variables, limits: errors
          without a path): 400 without ``data`` for ``application/graphql-response+json``, 200
          with ``data: null`` for ``application/json``;
        - else 200 (also when execution began and a field failed, with ``data`` as it is).
        """
        media = getattr(sub_response, "negotiated", JSON)
        errors = response_data.get("errors") if isinstance(response_data, dict) else None
        status = 200
        if errors:
            codes = {e.get("extensions", {}).get("code") for e in errors}
            if "TIMEOUT" in codes:
                timeout = next(e for e in errors if e.get("extensions", {}).get("code") == "TIMEOUT")
                return error_response(timeout["message"], "TIMEOUT", 504, media)
            data = response_data.get("data")
            unanswered = data is None or all(v is None for v in data.values())
            if codes == {"SERVICE_UNAVAILABLE"} and unanswered:
                return Response(self.encode_json(response_data), status_code=503,
                                media_type=media, headers={"retry-after": "2"})
            unexecuted = data is None and codes <= REQUEST_ERROR_CODES and not any(
                e.get("path") for e in errors)
            if unexecuted and (media == GRAPHQL_RESPONSE or "BAD_REQUEST" in codes):
                response_data = {k: v for k, v in response_data.items() if k != "data"}
                status = 400
        response = Response(self.encode_json(response_data), status_code=status, media_type=media)
        response.headers.raw.extend(
            (k, v) for k, v in sub_response.headers.raw if k != b"content-type")
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
            state.embedder = query_embedder(model, settings)
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
        return JSONResponse(error_body(exc.detail, HTTP_CODES.get(exc.status_code, "HTTP_ERROR")),
                            status_code=exc.status_code, headers=exc.headers)

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
            Mount(BROWSER_GUIDE_PATH, cross_origin_files(BROWSER_GUIDE_DIR), name="neo4j-browser"),
            *([Mount(GRAPHIQL_PATH, StaticFiles(directory=GRAPHIQL_DIR), name="graphiql")]
              if settings.api_graphiql else []),
        ],
        lifespan=lifespan,
        exception_handlers=handlers,
    )
    app.state.miko = state
    # Outermost last: the body cap and the concurrency limit answer before anything else runs.
    app.add_middleware(TimeLimit, seconds=settings.api_request_timeout_s)
    app.add_middleware(Admission, budget=Budget(settings.api_max_concurrent,
                                                settings.api_queue_size, settings.api_queue_wait_s),
                       body_timeout_s=settings.api_body_timeout_s)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    return app
