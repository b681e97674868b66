"""The API's one error shape, and its exceptions (one root, one subclass per kind, each a code).

Every error reaches clients as
``{"errors": [{"message": "...", "extensions": {"code": "..."}, "path"?: [...], "locations"?: [...]}]}``
(plus ``"data"`` for GraphQL requests): ``error_body`` writes it outside GraphQL (404, 405, 503,
504, 500), ``ErrorShape`` inside. Messages of unexpected errors are never shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

log = logging.getLogger("kg_api")


class KGApiError(Exception):
    """Root of every error raised by kg_api."""

    code = "INTERNAL_SERVER_ERROR"
    status = 400


class BadInputError(KGApiError):
    """An argument is out of range or malformed."""

    code = "BAD_USER_INPUT"


class BadRequestError(KGApiError):
    """The HTTP request is not a GraphQL request we can read (body, parameters)."""

    code = "BAD_REQUEST"


class UnsupportedMediaTypeError(KGApiError):
    """The request body is not JSON (or not UTF-8)."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class QueryTooCostlyError(KGApiError):
    """The query's estimated cost is over MIKO_API_MAX_COST."""

    code = "QUERY_TOO_COSTLY"


class GraphUnavailableError(KGApiError):
    """Neo4j does not answer, or its indexes are not online."""

    code = "SERVICE_UNAVAILABLE"
    status = 503


class ModelMismatchError(GraphUnavailableError):
    """The graph's embedding model differs from the one the API embeds queries with."""


class RequestTimeoutError(KGApiError):
    """The request ran past the per-request time limit."""

    code = "TIMEOUT"
    status = 504


def error_body(message: str, code: str) -> dict[str, Any]:
    """The one error shape, for responses made outside GraphQL."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


# Codes of errors that refuse a request before it runs: a client's mistake, never a server's.
REQUEST_ERROR_CODES = frozenset({
    "BAD_REQUEST", "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT",
    "QUERY_TOO_COSTLY"})


def _root_cause(error: GraphQLError) -> BaseException | None:
    """The exception behind a GraphQL error, through any re-locating wrappers."""
    original: BaseException | None = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


class ErrorShape(SchemaExtension):
    """The one error shape inside GraphQL: ``{message, extensions: {code}, path?, locations?}``.

    Errors that already carry a code (the request limits') keep it; our own errors keep their
    message and code; syntax errors are GRAPHQL_PARSE_FAILED, other errors graphql-core raises
    before execution GRAPHQL_VALIDATION_FAILED, and its argument-coercion errors during execution
    BAD_USER_INPUT, each with its message; anything else is logged and shown only as
    "Internal server error." with code INTERNAL_SERVER_ERROR.
    """

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        shaped = []
        for err in errors:
            code = (err.extensions or {}).get("code")
            original = _root_cause(err)
            message = err.message
            if isinstance(code, str):
                pass
            elif isinstance(original, KGApiError):
                message, code = str(original), original.code
            elif isinstance(err, GraphQLSyntaxError):
                code = "GRAPHQL_PARSE_FAILED"
            elif (isinstance(original, GraphQLError) or original is None) and err.path is None:
                code = "GRAPHQL_VALIDATION_FAILED"
            elif (isinstance(original, GraphQLError) or original is None) and err.message.startswith(
                    ("Argument '", "Variable '")):
                code = "BAD_USER_INPUT"  # graphql-core coercing an argument at execution
            else:
                log.error("unexpected error in %s after %.3fs", err.path,
                          time.perf_counter() - started, exc_info=original)
                message, code = "Internal server error.", "INTERNAL_SERVER_ERROR"
            shaped.append(GraphQLError(message, nodes=err.nodes, source=err.source,
                                       positions=err.positions, path=err.path,
                                       extensions={"code": code}))
        result.errors = shaped
