"""Parse and validate each distinct query text once, not on every request.

Clients send the same few documents again and again with different variables (a page query
with its cursor, a search with its text). Parsing and validating such a document — graphql's
rules, the depth and alias limiters, the long-string scan — is pure work on the text, and it
was a third of the Python time of the page-of-50-posts query. ``DocumentCache`` keeps, per
query text, the parsed document of texts that passed validation, in a bounded LRU shared by
the requests of one schema; a cached text skips both steps.

Only *valid* documents are cached (errors are recomputed, so every refused request gets its
own fresh error objects), only texts up to ``MAX_CACHED_CHARS`` (bounded memory: entries x
size), and nothing that depends on the request — variables, the query's cost — is cached: the
cost check still runs on every request.

strawberry's own ``ValidationCache`` keys on the validation rule classes, which the depth and
alias limiters create anew for each request, so it would never hit here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension

MAX_CACHED_CHARS = 8_192


class DocumentLru:
    """A bounded, thread-safe map of query text to its valid parsed document, with counters."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._docs: OrderedDict[str, DocumentNode] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, query: str) -> DocumentNode | None:
        with self._lock:
            doc = self._docs.get(query)
            if doc is None:
                self.misses += 1
                return None
            self._docs.move_to_end(query)
            self.hits += 1
            return doc

    def put(self, query: str, document: DocumentNode) -> None:
        if self.size <= 0 or len(query) > MAX_CACHED_CHARS:
            return
        with self._lock:
            self._docs[query] = document
            self._docs.move_to_end(query)
            while len(self._docs) > self.size:
                self._docs.popitem(last=False)

    def __len__(self) -> int:
        return len(self._docs)


def make_document_cache(lru: DocumentLru) -> type[SchemaExtension]:
    """A schema extension that serves documents from ``lru`` and fills it with valid ones."""

    class DocumentCache(SchemaExtension):
        cached = False

        def on_parse(self) -> Iterator[None]:
            ctx = self.execution_context
            if ctx.query is not None and ctx.graphql_document is None:
                doc = lru.get(ctx.query)
                if doc is not None:
                    ctx.graphql_document = doc  # strawberry then skips parsing
                    self.cached = True
            yield

        def on_validate(self) -> Iterator[None]:
            ctx = self.execution_context
            if self.cached:
                ctx.pre_execution_errors = []  # validated when it was cached; rules unchanged
            yield
            if (not self.cached and ctx.query is not None and ctx.graphql_document is not None
                    and ctx.pre_execution_errors == []):
                lru.put(ctx.query, ctx.graphql_document)

    return DocumentCache
