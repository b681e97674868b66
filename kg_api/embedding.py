"""Query-text embedding for the API: off the event loop, batched across requests, with a small
LRU cache.

Concurrent searches' texts are encoded together: the first text to arrive waits at most
``batch_wait_s`` for others (or until ``batch_max`` are waiting), then the batch is encoded in
one call on the embedding thread while the next one gathers. On a CPU one call for eight texts
costs far less than eight calls; alone, a text waits only ``batch_wait_s``. The same text asked
twice in one batch is encoded once; a repeated text comes from the cache (``hits``/``misses``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from kg_builder.core.settings import Settings
from kg_builder.embeddings.base import Embedder


class QueryEmbedder:
    def __init__(self, embedder: Embedder, cache_size: int = 1024, *,
                 batch_wait_s: float = 0.003, batch_max: int = 32) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self.batch_wait_s = max(0.0, batch_wait_s)
        self.batch_max = max(1, batch_max)
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-embed")
        self._waiting: dict[str, asyncio.Future[list[float]]] = {}
        self._flush: asyncio.TimerHandle | None = None
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
        future = self._waiting.get(key)
        if future is None:  # a text already waiting is encoded once for both askers
            future = self._waiting[key] = loop.create_future()
            if len(self._waiting) >= self.batch_max:
                self._send(loop)
            elif self._flush is None:
                self._flush = loop.call_later(self.batch_wait_s, self._send, loop)
        # shield: one asker giving up (its request timed out) must not fail the others
        return await asyncio.shield(future)

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        """Encode what is waiting as one batch (on the embedding thread)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        batch, self._waiting = self._waiting, {}
        if batch:
            loop.create_task(self._encode(batch))

    async def _encode(self, batch: dict[str, asyncio.Future[list[float]]]) -> None:
        keys = list(batch)
        try:
            vectors = await asyncio.get_running_loop().run_in_executor(
                self._pool, self.embedder.embed, keys)
        except Exception as exc:  # every asker of this batch gets the failure
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        self.encoded += len(keys)
        for key, vec in zip(keys, vectors, strict=True):
            vector: list[float] = vec.tolist()
            if self.cache_size:
                self._cache[key] = vector
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            if not batch[key].done():
                batch[key].set_result(vector)

    def stats(self) -> dict[str, float]:
        """Cache hits and misses, and the batches the misses were encoded in."""
        return {"hits": self.hits, "misses": self.misses, "batches": self.batches,
                "mean_batch": round(self.encoded / self.batches, 2) if self.batches else 0.0}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def query_embedder(embedder: Embedder, settings: Settings) -> QueryEmbedder:
    """The API's query embedder with the settings' cache and batching."""
    return QueryEmbedder(embedder, settings.api_query_cache_size,
                         batch_wait_s=settings.api_embed_batch_wait_ms / 1000,
                         batch_max=settings.api_embed_batch_max)
