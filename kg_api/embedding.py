"""Query-text embedding for the API: off the event loop, batched across requests, with a small
LRU cache.

Concurrent searches' texts are encoded together, one batch at a time on the embedding thread:
while a batch is being encoded the texts that arrive wait for it to finish and then go as the
next batch (at most ``batch_max``; a full batch does not wait); a text that finds the encoder
idle waits at most ``batch_wait_s`` for others. On a CPU one call for eight texts costs far
less than eight calls. A text already waiting or being encoded is encoded once for every
asker; a repeated text comes from the cache (``hits``/``misses``). When the model refuses a
batch, each of its texts is encoded alone, so that only a text it refuses fails its request;
one asker giving up fails no other.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from kg_builder.core.settings import Settings
from kg_builder.embeddings.base import Embedder


class QueryEmbedder:
    def __init__(self, embedder: Embedder, cache_size: int = 1024, *,
                 batch_wait_s: float = 0.0, batch_max: int = 32) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self.batch_wait_s = max(0.0, batch_wait_s)
        self.batch_max = max(1, batch_max)
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-embed")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[str, asyncio.Future[list[float]]] = {}
        self._encoding: dict[str, asyncio.Future[list[float]]] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.hits = 0
        self.misses = 0
        self.batches = 0  # encoder calls
        self.encoded = 0  # texts they encoded (encoded / batches: the mean batch)

    @property
    def model_name(self) -> str:
        return self.embedder.model_name

    @property
    def dimension(self) -> int:
        return self.embedder.dimension

    async def embed(self, text: str) -> list[float]:
        key = " ".join(text.split())
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return cached
        self.misses += 1
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests): nothing of the old one is kept
            self._abandon(RuntimeError("the event loop of this request ended"))
            self._loop = loop
        future = self._waiting.get(key) or self._encoding.get(key)
        if future is None:
            future = self._waiting[key] = loop.create_future()
            if len(self._waiting) >= self.batch_max and not self._encoding:
                self._send()
            elif not self._encoding and self._flush is None:
                self._flush = loop.call_later(self.batch_wait_s, self._send)
        # shield: one asker giving up (its request timed out) must not cancel the others'
        return await asyncio.shield(future)

    def _send(self) -> None:
        """Encode what is waiting as one batch (on the embedding thread)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._encoding or not self._waiting or self._loop is None:
            return  # one batch at a time: the next goes when this one is done
        keys = list(self._waiting)[:self.batch_max]
        batch = {k: self._waiting.pop(k) for k in keys}
        self._encoding = batch
        task = self._loop.create_task(self._encode(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _vectors(self, keys: list[str]) -> list[list[float]]:
        """One encoder call on the embedding thread, checked."""
        vectors = await asyncio.get_running_loop().run_in_executor(
            self._pool, self.embedder.embed, keys)
        results: list[list[float]] = [vec.tolist() for vec in vectors]
        if len(results) != len(keys):
            raise RuntimeError(f"the embedder returned {len(results)} vectors for "
                               f"{len(keys)} texts")
        self.batches += 1
        self.encoded += len(keys)
        return results

    def _resolve(self, key: str, future: asyncio.Future[list[float]], vector: list[float]) -> None:
        if self.cache_size:
            self._cache[key] = vector
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        if not future.done():
            future.set_result(vector)

    async def _encode(self, batch: dict[str, asyncio.Future[list[float]]]) -> None:
        keys = list(batch)
        failure: BaseException | None = None
        try:
            try:
                for key, vector in zip(keys, await self._vectors(keys), strict=True):
                    self._resolve(key, batch[key], vector)
            except Exception:
                if len(keys) == 1:
                    raise
                # One text the model refuses must not fail the other requests of its batch:
                # each is encoded alone, and only the refused ones fail.
                for key in keys:
                    try:
                        self._resolve(key, batch[key], (await self._vectors([key]))[0])
                    except Exception as exc:
                        if not batch[key].done():
                            batch[key].set_exception(exc)
        except BaseException as exc:  # every asker still waiting gets it, whatever it is
            failure = exc if isinstance(exc, Exception) else RuntimeError(
                f"query embedding stopped ({type(exc).__name__})")
            if not isinstance(exc, Exception):
                raise
        finally:
            for future in batch.values():
                if not future.done():
                    future.set_exception(failure or RuntimeError("query embedding stopped"))
            if self._encoding is batch:
                self._encoding = {}
            if self._waiting:  # what arrived meanwhile goes now, as one batch
                self._send()

    def _abandon(self, reason: Exception) -> None:
        """Fail whatever waits (a closed embedder, or an event loop that ended)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        for future in [*self._waiting.values(), *self._encoding.values()]:
            if not future.done() and not future.get_loop().is_closed():
                future.set_exception(reason)
        self._waiting, self._encoding = {}, {}

    def stats(self) -> dict[str, float]:
        """Cache hits and misses, and the batches the misses were encoded in."""
        return {"hits": self.hits, "misses": self.misses, "batches": self.batches,
                "mean_batch": round(self.encoded / self.batches, 2) if self.batches else 0.0}

    def close(self) -> None:
        self._abandon(RuntimeError("the query embedder is closed"))
        self._pool.shutdown(wait=False, cancel_futures=True)


def query_embedder(embedder: Embedder, settings: Settings) -> QueryEmbedder:
    """The API's query embedder with the settings' cache and batching."""
    return QueryEmbedder(embedder, settings.api_query_cache_size,
                         batch_wait_s=settings.api_embed_batch_wait_ms / 1000,
                         batch_max=settings.api_embed_batch_max)
