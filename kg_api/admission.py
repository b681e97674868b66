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

from starlette.types import ASGIApp, Receive, Scope, Send

from kg_api.middleware import send_error


class Budget:
    """Units up to ``capacity``; ``acquire`` waits at most ``wait_s`` among at most ``queue``."""

    def __init__(self, capacity: int, queue: int, wait_s: float) -> None:
        self.capacity = capacity
        self.queue = queue
        self.wait_s = wait_s
        self.used = 0
        self.waiting = 0
        self.refused = 0  # over the process's life (read by tests and the benchmark)
        self._changed: asyncio.Event | None = None

    def _fits(self, units: int) -> bool:
        return units == 0 or self.used + units <= self.capacity

    async def acquire(self, units: int) -> bool:
        """Take ``units``; False (nothing taken) when there was no room in time."""
        if self._fits(units):
            self.used += units
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
            self.used += units
            return True
        finally:
            self.waiting -= 1

    def release(self, units: int) -> None:
        if units == 0:
            return
        self.used -= units
        if self._changed is not None:  # wake every waiter; each takes its units if they fit
            self._changed.set()
            self._changed = asyncio.Event()


class CostBudget(Budget):
    """The running costly queries' total cost (see the module's docstring)."""


class Admission:
    """At most ``budget.capacity`` requests to ``path`` at once, the next ones queued briefly
    (see the module's docstring); 503 with Retry-After when the queue is full or the wait ends."""

    def __init__(self, app: ASGIApp, budget: Budget, path: str = "/graphql") -> None:
        self.app = app
        self.budget = budget
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        if not await self.budget.acquire(1):
            await send_error(
                send, 503, f"the server is busy ({self.budget.capacity} requests running, "
                f"{self.budget.waiting} waiting); retry in a second", "SERVICE_UNAVAILABLE",
                [(b"retry-after", b"1")])
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.budget.release(1)
