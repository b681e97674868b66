"""Query-text embedding for the API: off the event loop, with a small LRU cache."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from kg_builder.embeddings.base import Embedder


class QueryEmbedder:
    """Embeds one query text at a time in a worker thread; repeated texts come from the cache."""

    def __init__(self, embedder: Embedder, cache_size: int = 1024) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-embed")
        self.hits = 0
        self.misses = 0

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
        vectors = await loop.run_in_executor(self._pool, self.embedder.embed, [key])
        vector: list[float] = vectors[0].tolist()
        if self.cache_size:
            self._cache[key] = vector
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return vector

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
