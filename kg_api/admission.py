"""Admission: a bounded wait for room instead of an immediate 503, by count and by cost.

``Budget`` holds units (requests, or cost) up to a capacity; a taker that does not fit waits in a
bounded queue for a bounded time, then is refused. Two are used, one per process (each API worker
has its own):

- ``Admission`` (ASGI middleware): at most ``MIKO_API_MAX_CONCURRENT`` GraphQL requests run at once;
  up to ``MIKO_API_QUEUE_SIZE`` more wait, each at most ``MIKO_API_QUEUE_WAIT_S``, and the rest
  get 503 with Retry-After. A burst of cheap queries (a dashboard, a data loader) queues and is
  answered instead of being shed.
- ``CostBudget``: the total cost of the costly queries running at once stays under
  ``MIKO_API_MAX_RUNNING_COST``; a costly query waits (same bound) and is shed first, while cheap
  ones (weight 0) pass at once, so heavy load cannot starve them.

A waiter is woken whenever units come back and takes them if it fits, so a small request is not
held behind a big one at the head of the queue.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kg_api.middleware import send_error


class Budget:
    """Units up to ``capacity``; ``acquire`` waits at most ``wait_s`` among at most ``queue``."""

    def __init__(self, capacity: int, queue: int, wait_s: float,
                 max_holders: int | None = None) -> None:
        self.capacity = capacity
        self.queue = queue
        self.wait_s = wait_s
        self.max_holders = max_holders  # at most this many takers of units > 0 at once
        self.holders = 0
        self.used = 0
        self.waiting = 0
        self.refused = 0  # over the process's life (read by tests and the benchmark)
        self._changed: asyncio.Event | None = None

    def _fits(self, units: int) -> bool:
        if units == 0:
            return True
        if self.max_holders is not None and self.holders >= self.max_holders:
            return False
        return self.used + units <= self.capacity

    async def acquire(self, units: int) -> bool:
        """Take ``units``; False (nothing taken) when there was no room in time."""
        if self._fits(units):
            self._take(units)
            return True
        if self.waiting >= self.queue or units > self.capacity:
            self.refused += 1
            return False
        if self._changed is None:
            self._changed = asyncio.Event()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        self.waiting += 1
        try:
            while not self._fits(units):
                left = deadline - loop.time()
                if left <= 0:
                    self.refused += 1
                    return False
                changed = self._changed
                try:
                    await asyncio.wait_for(changed.wait(), left)
                except TimeoutError:
                    continue  # the loop's test decides: it may fit now, else refused
            self._take(units)
            return True
        finally:
            self.waiting -= 1

    def _take(self, units: int) -> None:
        self.used += units
        if units:
            self.holders += 1

    def release(self, units: int) -> None:
        if units == 0:
            return
        self.used -= units
        self.holders -= 1
        if self._changed is not None:  # wake every waiter; each takes its units if they fit
            self._changed.set()
            self._changed = asyncio.Event()


class CostBudget(Budget):
    """The running costly queries' total cost (see the module's docstring). At most half the
    request slots run costly queries and a quarter wait for cost room, so that costly queries
    cannot hold every slot (each waits inside one) while cheap ones queue behind them."""

    def __init__(self, capacity: int, slots: int, wait_s: float) -> None:
        super().__init__(capacity, queue=max(1, slots // 4), wait_s=wait_s,
                         max_holders=max(1, slots // 2))


class BodyTooSlowError(Exception):
    """The request's body did not arrive in time."""


async def read_body(receive: Receive, timeout_s: float) -> list[Message]:
    """Every message of the request's body (the body limit, outside, bounds their size)."""
    messages: list[Message] = []

    async def read() -> None:
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                return

    try:
        await asyncio.wait_for(read(), timeout_s)
    except TimeoutError:
        raise BodyTooSlowError from None
    return messages


class Admission:
    """At most ``budget.capacity`` requests to ``path`` at once, the next ones queued briefly
    (see the module's docstring); 503 with Retry-After when the queue is full or the wait ends.

    A request takes a slot only once its whole body is in (within ``body_timeout_s``, else 408
    and the connection closed): clients that send half a body hold no slot."""

    def __init__(self, app: ASGIApp, budget: Budget, body_timeout_s: float = 10.0,
                 path: str = "/graphql") -> None:
        self.app = app
        self.budget = budget
        self.body_timeout_s = body_timeout_s
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        try:
            messages = await read_body(receive, self.body_timeout_s)
        except BodyTooSlowError:
            await send_error(send, 408, f"the request body did not arrive within "
                             f"{self.body_timeout_s:g}s (MIKO_API_BODY_TIMEOUT_S)",
                             "REQUEST_TIMEOUT", [(b"connection", b"close")])
            return
        if messages and messages[-1]["type"] == "http.disconnect":
            return  # the client left: nobody to answer
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        if not await self.budget.acquire(1):
            await send_error(
                send, 503, f"the server is busy ({self.budget.capacity} requests running, "
                f"{self.budget.waiting} waiting); retry in a second", "SERVICE_UNAVAILABLE",
                [(b"retry-after", b"1")])
            return
        try:
            await self.app(scope, replayed, send)
        finally:
            self.budget.release(1)
