"""ASGI middleware of the API: the per-request time limit."""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kg_api.errors import error_body


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
