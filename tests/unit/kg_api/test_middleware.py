"""The body limit and the time limit as ASGI middlewares, driven with real ASGI messages."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kg_api.middleware import BodyLimit, TimeLimit

Message = dict[str, Any]


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def call(app: Any, chunks: list[bytes], headers: list[tuple[bytes, bytes]] | None = None
         ) -> list[Message]:
    sent: list[Message] = []
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
             for i, c in enumerate(chunks)]

    async def receive() -> Message:
        return queue.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "headers": headers or []}, receive, send))
    return sent


def error_of(sent: list[Message]) -> tuple[int, dict[str, Any]]:
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_a_body_within_the_limit_passes() -> None:
    sent = call(BodyLimit(echo_app, 10), [b"12345", b"67890"])
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"1234567890")


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    status, body = error_of(call(BodyLimit(echo_app, 10), [b""], [(b"content-length", b"11")]))
    assert status == 413
    assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "MIKO_API_MAX_BODY_BYTES" in body["errors"][0]["message"]


def test_a_streamed_body_over_the_limit_is_refused_without_a_length() -> None:
    status, body = error_of(call(BodyLimit(echo_app, 10), [b"123456", b"78901"]))
    assert (status, body["errors"][0]["extensions"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_a_request_past_the_time_limit_gets_504_in_the_error_shape() -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(5)

    limit = TimeLimit(slow, 0.05)
    status, body = error_of(call(limit, [b""]))
    assert (status, body["errors"][0]["extensions"]["code"]) == (504, "TIMEOUT")
    assert "0.05s" in body["errors"][0]["message"]


def test_a_started_response_is_not_replaced_and_a_stalled_one_is_cut_off() -> None:
    async def stalls(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(5)

    limit = TimeLimit(stalls, 0.05)
    sent = call(limit, [b""])
    assert [m["type"] for m in sent] == ["http.response.start"]
    assert limit.cut_off == 1
