"""The GraphQL schema assembled: the root query, its types and the protective extensions.

``schema/schema.graphql`` is this schema printed by ``miko api schema``; a test fails when the
two drift apart.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter
from strawberry.types import ExecutionContext

from kg_api.admission import CostBudget
from kg_api.document_cache import DocumentLru, make_document_cache
from kg_api.errors import ErrorShape
from kg_api.execution import MikoExecutionContext
from kg_api.limits import make_query_limits, make_validation
from kg_api.query import Query
from kg_api.types import Action, Concept, Emotion, Keyword, ObjectInfo, answer_prefetched_links
from kg_builder.core.settings import Settings


class MikoSchema(strawberry.Schema):
    """strawberry's schema, without its logging of every error with a traceback: a client's
    mistake is not the server's, and ``ErrorShape`` logs the unexpected ones (once each)."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        return None


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with its extensions, in order: the size bound at parse (tokens), the document
    cache, graphql-core's validation, the per-request limits and cost admission, the error shape.
    """
    documents = DocumentLru(settings.api_document_cache_size)
    budget = CostBudget(settings.api_max_running_cost, settings.api_max_concurrent,
                        settings.api_queue_wait_s)
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=settings.api_max_tokens),
        make_document_cache(documents),
        make_validation(settings),
        make_query_limits(settings, budget),
        ErrorShape,
    ]
    schema = MikoSchema(
        query=Query, types=[Concept, Action, ObjectInfo, Emotion, Keyword], extensions=extensions,
        execution_context_class=MikoExecutionContext)
    answer_prefetched_links(schema._schema)
    schema.miko_documents = documents  # type: ignore[attr-defined]  # read by tests, benchmark
    schema.miko_cost_budget = budget  # type: ignore[attr-defined]  # read by tests, benchmark
    return schema


def schema_sdl(settings: Settings | None = None) -> str:
    return build_schema(settings or Settings()).as_str() + "\n"
