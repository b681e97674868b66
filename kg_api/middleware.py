"""ASGI middleware of the API: request-body cap and time limit (admission: ``admission``).

Each answers in the one error shape (``errors.error_body``) before the app has sent anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kg_api import deadline
from kg_api.errors import error_body


async def send_error(send: Send, status: int, message: str, code: str,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(error_body(message, code)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


class _Tracked:
    """A ``send`` that remembers whether the response has started (then no error can replace it)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = True
        await self.send(message)


class BodyLimit:
    """413 for a request body over ``max_bytes``, whether declared (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = (f"the request body is over the limit of {self.max_bytes:,} bytes "
                   "(MIKO_API_MAX_BODY_BYTES)")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_error(send, 413, message, "PAYLOAD_TOO_LARGE")
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return msg

        tracked = _Tracked(send)
        try:
            await self.app(scope, counting_receive, tracked)
        except _BodyTooLarge:
            if tracked.started:
                raise
            await send_error(send, 413, message, "PAYLOAD_TOO_LARGE")


class TimeLimit:
    """Answer 504 in the error shape when a request runs past the time limit.

    The deadline bounds the request twice: ``deadline.DeadlineExecutionContext`` stops GraphQL
    execution between fields (CPU-bound work never yields to this timer), and this timer cancels
    a request that is waiting (on Neo4j, say). A response that has already started is given as
    long again to finish sending (it is only sending bytes); a client that does not read it by
    then is cut off (the connection closed), so that it cannot hold a running slot for ever.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self.cut_off = 0  # responses cut off mid-way, over the process (read by tests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = _Tracked(send)
        token = deadline.start(self.seconds)
        try:
            task = asyncio.ensure_future(self.app(scope, receive, tracked))
            try:
                done, _ = await asyncio.wait({task}, timeout=self.seconds)
                if task not in done and tracked.started:
                    done, _ = await asyncio.wait({task}, timeout=self.seconds)
            except asyncio.CancelledError:
                task.cancel()
                raise
            if task in done:
                await task
                return
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if tracked.started:  # a reader too slow to take its answer: uvicorn closes it
                self.cut_off += 1
                return
            await send_error(send, 504, f"the request ran past the time limit of {self.seconds:g}s",
                             "TIMEOUT")
        finally:
            deadline.reset(token)
