"""The admission budget: room is waited for, briefly and in a bounded queue, then refused."""

from __future__ import annotations

import asyncio

from kg_api.admission import Budget


def test_a_taker_waits_for_room_and_gets_it_when_released() -> None:
    async def scenario() -> tuple[bool, float]:
        budget = Budget(capacity=2, queue=4, wait_s=2.0)
        assert await budget.acquire(2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiter = asyncio.ensure_future(budget.acquire(1))
        await asyncio.sleep(0.1)
        assert not waiter.done() and budget.waiting == 1
        budget.release(2)
        got = await waiter
        return got, loop.time() - started

    got, waited = asyncio.run(scenario())
    assert got and 0.1 <= waited < 1.0


def test_the_wait_is_bounded_and_the_queue_too() -> None:
    async def scenario() -> tuple[bool, bool, int, int]:
        budget = Budget(capacity=1, queue=1, wait_s=0.2)
        assert await budget.acquire(1)
        first = asyncio.ensure_future(budget.acquire(1))
        await asyncio.sleep(0.01)
        refused_at_once = await budget.acquire(1)  # the queue (1) is full
        timed_out = await first  # waited 0.2 s, no room came
        return refused_at_once, timed_out, budget.refused, budget.used

    refused_at_once, timed_out, refused, used = asyncio.run(scenario())
    assert (refused_at_once, timed_out, refused, used) == (False, False, 2, 1)


def test_weightless_takers_pass_and_small_ones_are_not_held_behind_big_ones() -> None:
    async def scenario() -> list[bool]:
        budget = Budget(capacity=10, queue=8, wait_s=0.5)
        assert await budget.acquire(8)
        big = asyncio.ensure_future(budget.acquire(5))  # does not fit until the 8 come back
        await asyncio.sleep(0.01)
        small = await budget.acquire(2)  # fits now: not queued behind the big one
        free = await budget.acquire(0)
        too_big = await budget.acquire(11)  # can never fit: refused at once
        return [small, free, too_big, await big]

    assert asyncio.run(scenario()) == [True, True, False, False]
