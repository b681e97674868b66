"""The GraphQL schema assembled: the root query, its types and the protective extensions.

``schema/schema.graphql`` is this schema printed by ``miko api schema``; a test fails when the
two drift apart.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from kg_api.document_cache import DocumentLru, make_document_cache
from kg_api.errors import ErrorShape
from kg_api.execution import MikoExecutionContext
from kg_api.limits import make_query_limits
from kg_api.query import Query
from kg_api.types import Action, Concept, Emotion, Keyword, ObjectInfo, answer_prefetched_links
from kg_builder.core.settings import Settings


def build_schema(settings: Settings) -> strawberry.Schema:
    documents = DocumentLru(settings.api_document_cache_size)
    extensions: list[Any] = [
        make_document_cache(documents),
        lambda: QueryDepthLimiter(max_depth=settings.api_max_depth),
        lambda: MaxTokensLimiter(max_token_count=settings.api_max_tokens),
        lambda: MaxAliasesLimiter(max_alias_count=settings.api_max_aliases),
        make_query_limits(settings.api_max_cost, settings.api_max_string_chars,
                          settings.api_max_k),
        ErrorShape,
    ]
    schema = strawberry.Schema(
        query=Query, types=[Concept, Action, ObjectInfo, Emotion, Keyword], extensions=extensions,
        execution_context_class=MikoExecutionContext)
    answer_prefetched_links(schema._schema)
    schema.miko_documents = documents  # type: ignore[attr-defined]  # read by tests, benchmark
    return schema


def schema_sdl(settings: Settings | None = None) -> str:
    return build_schema(settings or Settings()).as_str() + "\n"
