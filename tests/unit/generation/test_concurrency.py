"""The adaptive limit of one model endpoint: grows on answers in time, halves once a round on
overload or queueing, never beyond its ceiling nor below one."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from kg_builder.generation import concurrency
from kg_builder.generation.concurrency import AdaptiveLimit


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_it_starts_from_what_is_known_and_stays_under_the_ceiling() -> None:
    assert AdaptiveLimit(8).current == 4
    assert AdaptiveLimit(8, start=1).current == 1
    assert AdaptiveLimit(2, start=10).current == 2
    assert AdaptiveLimit(0).ceiling == 1


def test_answers_in_time_grow_it_by_one_each_until_the_ceiling(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(concurrency, "time", SimpleNamespace(monotonic=lambda: now[0]))

    async def go() -> AdaptiveLimit:
        limit = AdaptiveLimit(6, start=1)
        for _ in range(10):  # every answer takes a second: none is slow
            slot = await limit.acquire()
            now[0] += 1.0
            await limit.release(slot, "ok")
        return limit

    limit = run(go())
    assert isinstance(limit, AdaptiveLimit)
    assert (limit.current, limit.peak, limit.decreases) == (6, 6, 0)


def test_overload_halves_it_once_for_the_requests_of_one_round() -> None:
    async def go() -> AdaptiveLimit:
        limit = AdaptiveLimit(8, start=8)
        slots = [await limit.acquire() for _ in range(8)]
        for slot in slots:  # eight timeouts of requests sent together: one decrease
            await limit.release(slot, "overload")
        return limit

    limit = run(go())
    assert isinstance(limit, AdaptiveLimit)
    assert (limit.current, limit.decreases) == (4, 1)
    assert limit.summary() == {"limit": 4, "peak": 8, "decreases": 1, "ceiling": 8}


def test_an_error_that_says_nothing_of_load_changes_nothing() -> None:
    async def go() -> AdaptiveLimit:
        limit = AdaptiveLimit(8, start=3)
        await limit.release(await limit.acquire(), "other")
        return limit

    limit = run(go())
    assert isinstance(limit, AdaptiveLimit)
    assert (limit.current, limit.decreases, limit.in_flight) == (3, 0, 0)


def test_a_much_slower_answer_of_the_same_kind_counts_as_queueing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(concurrency, "time", SimpleNamespace(monotonic=lambda: now[0]))

    async def answer(limit: AdaptiveLimit, seconds: float, kind: str) -> None:
        slot = await limit.acquire()
        now[0] += seconds
        await limit.release(slot, "ok", kind)

    async def go() -> AdaptiveLimit:
        limit = AdaptiveLimit(8, start=4)
        await answer(limit, 1.0, "stage")  # the fastest so far: grows to 5
        await answer(limit, 10.0, "other stage")  # another kind: its own yardstick, grows
        await answer(limit, 3.0, "stage")  # 3x the fastest of its kind: halves
        return limit

    limit = run(go())
    assert isinstance(limit, AdaptiveLimit)
    assert (limit.current, limit.decreases) == (3, 1)


def test_a_request_waits_for_a_free_slot() -> None:
    async def go() -> list[str]:
        limit = AdaptiveLimit(1, start=1)
        order: list[str] = []
        first = await limit.acquire()

        async def second() -> None:
            slot = await limit.acquire()
            order.append("second acquired")
            await limit.release(slot, "ok")

        task = asyncio.ensure_future(second())
        await asyncio.sleep(0.01)
        order.append("first released")
        await limit.release(first, "ok")
        await task
        return order

    assert run(go()) == ["first released", "second acquired"]
