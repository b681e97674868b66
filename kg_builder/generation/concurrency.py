"""How many requests one model endpoint gets at once: a limit that adapts to the server.

Like TCP's congestion control: it starts from what is known of the server (the packaged local
server serves one request at a time) and grows while answers come back in time (by one per
answer until the first sign of trouble, then by about one per round of answers: additive
increase); it halves at once on a timeout, a 429 or a 5xx, and when answers take much longer than
the fastest recent ones of the same kind (stage), which is how a server that queues requests
shows it is full
(multiplicative decrease). One decrease per round: the requests that were already in flight when
it shrank do not shrink it again. A retry waits for a slot like any request, so it never adds
load to a server that is already late. The configured concurrency is the ceiling.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

SLOW_FACTOR = 2.0  # an answer this many times slower than the recent fastest means queueing
EASE_FACTOR = 1.5  # this much slower: stop doubling, grow by one a round from here
WINDOW = 64  # answers the recent fastest is taken over


@dataclass
class Slot:
    """One request in flight: when it started and under which round of the limit."""

    started: float
    round: int


class AdaptiveLimit:
    def __init__(self, ceiling: int, start: int | None = None) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = float(min(self.ceiling, start if start is not None else min(4, self.ceiling)))
        self.in_flight = 0
        self.peak = int(self.limit)
        self.decreases = 0
        self._round = 0
        self._slow_start = True
        self._recent: dict[str, deque[float]] = {}
        self._cond = asyncio.Condition()

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    async def acquire(self) -> Slot:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.current)
            self.in_flight += 1
            return Slot(time.monotonic(), self._round)

    async def release(self, slot: Slot, outcome: str, kind: str = "") -> None:
        """``outcome``: "ok" (an answer), "overload" (timeout, 429, 5xx) or "other" (an error
        that says nothing about the server's load); ``kind``: what was asked (answers of one
        kind take comparable time)."""
        elapsed = time.monotonic() - slot.started
        async with self._cond:
            self.in_flight -= 1
            if outcome == "ok":
                recent = self._recent.setdefault(kind, deque(maxlen=WINDOW))
                fastest = min(recent) if recent else elapsed
                recent.append(elapsed)
                if elapsed > SLOW_FACTOR * fastest:
                    self._decrease(slot)
                else:
                    if elapsed > EASE_FACTOR * fastest:
                        self._slow_start = False
                    self._increase()
            elif outcome == "overload":
                self._decrease(slot)
            self._cond.notify_all()

    def _increase(self) -> None:
        step = 1.0 if self._slow_start else 1.0 / self.limit
        self.limit = min(float(self.ceiling), self.limit + step)
        self.peak = max(self.peak, self.current)

    def _decrease(self, slot: Slot) -> None:
        self._slow_start = False
        if slot.round != self._round or self.limit <= 1.0:
            return  # sent before the last decrease (already counted), or nothing left to halve
        self._round += 1
        self.decreases += 1
        self.limit = max(1.0, self.limit / 2)

    def summary(self) -> dict[str, int]:
        return {"limit": self.current, "peak": self.peak, "decreases": self.decreases,
                "ceiling": self.ceiling}
