"""GraphQL-over-HTTP requests read strictly; the response's media type from Accept."""

from __future__ import annotations

import pytest

from kg_api.errors import BadRequestError, UnsupportedMediaTypeError
from kg_api.transport import GRAPHQL_RESPONSE, JSON, media_type, request_data

POST = "application/json"


def post(body: bytes, content_type: str | None = POST) -> object:
    return request_data("POST", content_type, body, {})


def test_a_good_request_is_read() -> None:
    data = request_data("POST", "application/json; charset=UTF-8",
                        b'{"query": "{ a }", "variables": {"k": 1}, "operationName": null}', {})
    assert (data.query, data.variables, data.operation_name) == ("{ a }", {"k": 1}, None)
    got = request_data("GET", None, b"", {"query": "{ a }", "variables": '{"k": 2}'})
    assert (got.query, got.variables) == ("{ a }", {"k": 2})


@pytest.mark.parametrize(("body", "message"), [
    (b'{"query": "\xff"}', "not valid JSON"),
    (b'{"query": "\\ud800"}', "not valid JSON"),
    (b'{"query": "x", "variables": {"a": NaN}}', "not valid JSON"),
    (b'{"query": "x", "variables": {"a": ' + b"9" * 5000 + b"}}", "not valid JSON"),
    (b'{"query": "x", "variables": {"a": 9223372036854775808}}', "64-bit"),
    (b'{"query": "x", "variables": {"a": -9223372036854775809}}', "not"),  # a float: fine
    (b'{"query": "x", "variables": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}", "deeper than 32"),
    (b'{"query": "x", "extensions": {"a": ' + b"{\"b\": " * 40 + b"1" + b"}" * 40 + b"}}",
     "deeper than 32"),
    (b"null", "JSON object"),
    (b"[]", "batched"),
    (b'[{"query": "x"}]', "batched"),
    (b'"x"', "JSON object"),
    (b"{}", "no `query`"),
    (b'{"query": ""}', "non-empty"),
    (b'{"query": 1}', "non-empty"),
    (b'{"query": "x", "operationName": 3}', "operationName"),
    (b'{"query": "x", "variables": []}', "`variables` must be an object"),
    (b'{"query": "x", "extensions": "x"}', "`extensions` must be an object"),
    (b"   ", "empty"),
])
def test_malformed_bodies_are_bad_requests(body: bytes, message: str) -> None:
    if message == "not":  # -2^63 - 1 parses as a float: a valid JSON number
        assert post(body) is not None
        return
    with pytest.raises(BadRequestError, match=message):
        post(body)


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x",
                                          "application/json; charset=latin-1"])
def test_bodies_that_are_not_utf8_json_are_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        post(b'{"query": "x"}', content_type)


def test_a_get_with_bad_variables_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError, match="`variables` parameter is not valid JSON"):
        request_data("GET", None, b"", {"query": "{ a }", "variables": "{"})


@pytest.mark.parametrize(("accept", "expected"), [
    (None, JSON), ("", JSON), ("*/*", JSON), ("application/json", JSON),
    (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
    (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
    (f"application/json, {GRAPHQL_RESPONSE}", JSON),
    (f"application/json;q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    ("text/html", JSON), ("garbage;;q=x", JSON), (f"{GRAPHQL_RESPONSE};q=0", JSON),
])
def test_the_media_type_follows_accept(accept: str | None, expected: str) -> None:
    assert media_type(accept) == expected
