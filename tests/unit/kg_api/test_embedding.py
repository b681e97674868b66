"""Query embeddings batched across requests: concurrent texts in one encoder call, the same
text once, a failure to every asker of its batch, and the cache before all."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from kg_api.embedding import QueryEmbedder


class Recording:
    """An embedder that records each call's texts (a vector: the text's length, then 1)."""

    model_name = "recording"
    dimension = 2

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail
        self.lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        with self.lock:
            self.calls.append(list(texts))
        if self.fail:
            raise RuntimeError("the model is gone")
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_concurrent_texts_are_encoded_in_one_call_and_a_repeated_one_once() -> None:
    model = Recording()
    embedder = QueryEmbedder(model, batch_wait_s=0.05, batch_max=32)

    async def go() -> list[list[float]]:
        return list(await asyncio.gather(*(embedder.embed(t) for t in
                                           ["a", "bb", "ccc", "bb", "  a  "])))

    vectors = asyncio.run(go())
    assert vectors == [[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [2.0, 1.0], [1.0, 1.0]]
    assert model.calls == [["a", "bb", "ccc"]]
    assert embedder.stats() == {"hits": 0, "misses": 5, "batches": 1, "mean_batch": 3.0}
    embedder.close()


def test_a_full_batch_goes_at_once_and_the_rest_waits_for_the_next() -> None:
    model = Recording()
    embedder = QueryEmbedder(model, batch_wait_s=0.05, batch_max=2)

    async def go() -> None:
        await asyncio.gather(*(embedder.embed(t) for t in ["a", "b", "c", "d", "e"]))

    asyncio.run(go())
    assert sorted(map(len, model.calls)) == [1, 2, 2]
    assert sorted(t for call in model.calls for t in call) == ["a", "b", "c", "d", "e"]
    embedder.close()


def test_repeated_texts_come_from_the_cache() -> None:
    model = Recording()
    embedder = QueryEmbedder(model, cache_size=10, batch_wait_s=0.0)

    async def go() -> None:
        await embedder.embed("same text")
        await embedder.embed("same   text")

    asyncio.run(go())
    assert model.calls == [["same text"]]
    assert (embedder.hits, embedder.misses) == (1, 1)
    embedder.close()


def test_a_failed_batch_fails_each_of_its_askers_and_the_next_batch_is_tried_again() -> None:
    model = Recording(fail=True)
    embedder = QueryEmbedder(model, batch_wait_s=0.01)

    async def go() -> list[BaseException | list[float]]:
        return list(await asyncio.gather(embedder.embed("x"), embedder.embed("y"),
                                         return_exceptions=True))

    results = asyncio.run(go())
    assert all(isinstance(r, RuntimeError) for r in results)
    assert model.calls == [["x", "y"], ["x"], ["y"]]  # the batch, then each alone
    model.fail = False
    assert asyncio.run(embedder.embed("x")) == [1.0, 1.0]
    assert len(model.calls) == 4
    embedder.close()


def test_an_asker_that_gives_up_does_not_fail_the_others() -> None:
    model = Recording()
    embedder = QueryEmbedder(model, batch_wait_s=0.05)

    async def go() -> list[float]:
        impatient = asyncio.ensure_future(embedder.embed("shared"))
        patient = asyncio.ensure_future(embedder.embed("shared"))
        await asyncio.sleep(0)
        impatient.cancel()
        with pytest.raises(asyncio.CancelledError):
            await impatient
        return await patient

    assert asyncio.run(go()) == [6.0, 1.0]
    embedder.close()


def test_a_new_event_loop_after_an_abandoned_batch_is_served() -> None:
    model = Recording()
    embedder = QueryEmbedder(model, batch_wait_s=0.2)

    async def give_up() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(embedder.embed("left behind"), 0.01)

    asyncio.run(give_up())  # its loop ends with the batch still waiting for its timer
    assert asyncio.run(asyncio.wait_for(embedder.embed("next"), 5)) == [4.0, 1.0]
    embedder.close()


def test_texts_arriving_while_a_batch_encodes_go_together_next() -> None:
    gate = threading.Event()

    class Slow(Recording):
        def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
            if not self.calls:
                gate.wait(5)
            return super().embed(texts)

    model = Slow()
    embedder = QueryEmbedder(model, batch_wait_s=0.0)

    async def go() -> None:
        first = asyncio.ensure_future(embedder.embed("first"))
        await asyncio.sleep(0.05)  # the first batch is on the encoder
        later = [asyncio.ensure_future(embedder.embed(t)) for t in ("b", "c", "first")]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, *later)

    asyncio.run(go())
    assert model.calls == [["first"], ["b", "c"]]  # "first" again: joined its batch, not re-encoded
    embedder.close()


def test_close_fails_what_waits() -> None:
    model = Recording()
    embedder = QueryEmbedder(model, batch_wait_s=5)

    async def go() -> None:
        waiting = asyncio.ensure_future(embedder.embed("x"))
        await asyncio.sleep(0.01)
        embedder.close()
        with pytest.raises(RuntimeError, match="closed"):
            await waiting

    asyncio.run(go())
    assert model.calls == []


def test_a_text_the_model_refuses_fails_only_its_own_request() -> None:
    class Picky(Recording):
        def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
            if "poison" in texts:
                with self.lock:
                    self.calls.append(list(texts))
                raise ValueError("the tokenizer refused it")
            return super().embed(texts)

    model = Picky()
    embedder = QueryEmbedder(model, batch_wait_s=0.05)

    async def go() -> list[BaseException | list[float]]:
        return list(await asyncio.gather(embedder.embed("ok"), embedder.embed("poison"),
                                         embedder.embed("fine"), return_exceptions=True))

    ok, poison, fine = asyncio.run(go())
    assert (ok, fine) == ([2.0, 1.0], [4.0, 1.0])
    assert isinstance(poison, ValueError)
    assert model.calls[0] == ["ok", "poison", "fine"]  # the batch, then each alone
    assert sorted(map(tuple, model.calls[1:])) == [("fine",), ("ok",), ("poison",)]
    embedder.close()
