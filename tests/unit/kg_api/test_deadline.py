"""The time limit: a 504 for a request still running, and a cut-off for a client that does not
read a started answer (it would otherwise hold its running slot for ever)."""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import Message, Receive, Scope, Send

from kg_api.middleware import TimeLimit


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def run(app: object, seconds: float) -> tuple[list[Message], float, TimeLimit]:
    sent: list[Message] = []
    limit = TimeLimit(app, seconds)  # type: ignore[arg-type]

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("more_body"):
            await asyncio.Event().wait()  # the client never reads: the send never completes

    async def go() -> float:
        started = time.perf_counter()
        await limit({"type": "http", "path": "/graphql"}, receive, send)
        return time.perf_counter() - started

    return sent, asyncio.run(go()), limit


def test_a_request_still_running_gets_504_in_the_error_shape() -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(10)

    sent, elapsed, _ = run(slow, 0.2)
    assert 0.2 <= elapsed < 1.0
    assert sent[0]["status"] == 504
    assert json.loads(sent[1]["body"])["errors"][0]["extensions"]["code"] == "TIMEOUT"


def test_a_client_that_does_not_read_its_answer_is_cut_off() -> None:
    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x" * 1000, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    sent, elapsed, limit = run(streaming, 0.2)
    assert 0.4 <= elapsed < 1.5  # the limit, then as long again to finish sending
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert limit.cut_off == 1


def test_an_answer_sent_in_time_is_left_alone() -> None:
    async def quick(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    sent, elapsed, limit = run(quick, 0.5)
    assert elapsed < 0.4 and sent[0]["status"] == 200 and limit.cut_off == 0
