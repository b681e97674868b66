"""GraphQL over HTTP: the request's parameters, strictly read, and the response's media type.

Every malformed request is a ``BadRequestError`` (400) or ``UnsupportedMediaTypeError`` (415),
answered in the one error shape; nothing a client sends can become a server error:

- POST bodies must be ``application/json`` (UTF-8); GET takes ``query``, ``operationName``,
  ``variables`` and ``extensions`` from the URL (the last two as JSON text);
- JSON is parsed by orjson, which refuses invalid UTF-8, lone surrogates, NaN and Infinity,
  numbers too large for a double and nesting past 1,024 levels; integers outside the signed
  64-bit range are refused here, and ``variables`` / ``extensions`` may nest at most
  ``MAX_NESTING`` levels;
- the body must be one JSON object (a batch, a JSON array, is refused: send one operation per
  request), ``query`` a non-empty string, ``operationName`` a string or null, ``variables`` and
  ``extensions`` objects or null.

``media_type`` picks the response's type from the Accept header, as the GraphQL-over-HTTP spec
says: ``application/graphql-response+json`` when the client prefers it, else
``application/json`` (also for ``*/*`` and no Accept at all).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from strawberry.http import GraphQLRequestData

from kg_api.errors import BadRequestError, UnsupportedMediaTypeError

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MAX_NESTING = 32
INT64 = (-(2**63), 2**63 - 1)


def _check_values(value: Any, where: str) -> None:
    """Refuse nesting past MAX_NESTING and integers a 64-bit field cannot hold (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_NESTING:
                raise BadRequestError(f"`{where}` nests deeper than {MAX_NESTING} levels")
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict)
                                                   else item))
        elif isinstance(item, int) and not isinstance(item, bool) and not (
                INT64[0] <= item <= INT64[1]):
            raise BadRequestError(f"`{where}` holds an integer outside the 64-bit range")


def parse_json(text: bytes | str, where: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the {where} is not valid JSON: {exc}") from None


def _content_type(value: str | None) -> tuple[str, dict[str, str]]:
    kind, *params = (value or "").split(";")
    options = {}
    for param in params:
        name, _, setting = param.partition("=")
        options[name.strip().lower()] = setting.strip().strip('"').lower()
    return kind.strip().lower(), options


def request_data(method: str, content_type: str | None, body: bytes,
                 query_params: Mapping[str, str | None]) -> GraphQLRequestData:
    """The operation a request asks for, or a BadRequestError / UnsupportedMediaTypeError."""
    data: Any
    if method == "GET":
        data = dict(query_params)
        for param in ("variables", "extensions"):
            if isinstance(data.get(param), str):
                data[param] = parse_json(data[param], f"`{param}` parameter")
    else:
        kind, options = _content_type(content_type)
        if kind not in (JSON, GRAPHQL_RESPONSE):
            raise UnsupportedMediaTypeError(
                f"the request body must be JSON: send `content-type: {JSON}` (got "
                f"{kind or 'no content type'!r})")
        if options.get("charset", "utf-8") not in ("utf-8", "utf8"):
            raise UnsupportedMediaTypeError(
                f"the request body must be UTF-8 (got charset {options['charset']!r})")
        if not body.strip():
            raise BadRequestError("the request body is empty: send a JSON object with `query`")
        data = parse_json(body, "request body")
    if isinstance(data, list):
        raise BadRequestError("batched operations (a JSON array) are not supported: send one "
                              "operation per request")
    if not isinstance(data, dict):
        raise BadRequestError("the request body must be a JSON object with `query`")
    query, name = data.get("query"), data.get("operationName")
    variables, extensions = data.get("variables"), data.get("extensions")
    if query is None:
        raise BadRequestError("the request has no `query`")
    if not isinstance(query, str) or not query.strip():
        raise BadRequestError("`query` must be a non-empty string")
    if name is not None and not isinstance(name, str):
        raise BadRequestError("`operationName` must be a string or null")
    for value, label in ((variables, "variables"), (extensions, "extensions")):
        if value is not None and not isinstance(value, dict):
            raise BadRequestError(f"`{label}` must be an object or null")
        _check_values(value, label)
    return GraphQLRequestData(query=query, variables=variables, operation_name=name or None,
                              extensions=extensions)


def media_type(accept: str | None) -> str:
    """The response's media type for an Accept header (see the module's docstring)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept or "").split(",")):
        kind, options = _content_type(part)
        try:
            quality = float(options.get("q", "1"))
        except ValueError:
            quality = 0.0
        if kind == GRAPHQL_RESPONSE and quality > 0:
            candidate = (quality, -position, GRAPHQL_RESPONSE)
        elif kind in (JSON, "*/*", "application/*") and quality > 0:
            candidate = (quality, -position, JSON)
        else:
            continue
        if best is None or candidate > best:
            best = candidate
    return best[2] if best else JSON
