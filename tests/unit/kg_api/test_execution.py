"""The API's execution shortcuts give the answers of the general path: the compiled completion
of plain objects, the parsed-document cache, and the projection of intention links."""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import strawberry
from graphql import GraphQLObjectType

from kg_api.deadline import DeadlineExecutionContext
from kg_api.document_cache import MAX_CACHED_CHARS, DocumentLru, make_document_cache
from kg_api.execution import MikoExecutionContext
from kg_api.schema import build_schema
from kg_api.selection import INTENTION_NODE_FIELDS, LINK_EDGE_FIELDS
from kg_builder.core.settings import Settings


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    DARK_BLUE = "dark blue"


@strawberry.type
class Inner:
    tail: str
    score: float | None


@strawberry.type
class Item:
    name: str  # non-null: a None here is an error, located at the field
    colour: Colour
    votes: list[int] | None
    inner: Inner
    maybe: Inner | None

    @strawberry.field
    def computed(self) -> str:  # a resolver: this type keeps the general path when selected
        return self.name.upper()


def items(n: int, broken: int | None = None) -> list[Item]:
    return [Item(name=None if i == broken else f"item {i}",  # type: ignore[arg-type]
                 colour=Colour.DARK_BLUE if i % 2 else Colour.RED,
                 votes=[i, 1] if i % 3 else None, inner=Inner(tail=f"t{i}", score=i / 2),
                 maybe=None if i % 2 else Inner(tail="m", score=None)) for i in range(n)]


BROKEN: list[int | None] = [None]


@strawberry.type
class Q:
    @strawberry.field
    def items(self) -> list[Item]:
        return items(30, BROKEN[0])


def run(context_class: type[Any], query: str) -> Any:
    schema = strawberry.Schema(query=Q, execution_context_class=context_class)
    result = schema.execute_sync(query)
    errors = [(e.message, e.path) for e in result.errors or []]
    return result.data, errors


PLAIN = ("{ items { name colour votes kind: __typename inner { tail score } "
         "maybe { tail score } again: inner { tail } } }")


def test_plain_objects_are_completed_as_by_the_general_path() -> None:
    before = MikoExecutionContext.plans_used
    fast = run(MikoExecutionContext, PLAIN)
    assert fast == run(DeadlineExecutionContext, PLAIN)
    assert fast[1] == [] and fast[0]["items"][1]["colour"] == "DARK_BLUE"
    assert fast[0]["items"][0]["maybe"] == {"tail": "m", "score": None}
    assert MikoExecutionContext.plans_used - before == 30  # every item, nested ones inside it


def test_a_resolver_field_keeps_the_general_path() -> None:
    query = "{ items { name computed inner { tail } } }"
    before = MikoExecutionContext.plans_used
    fast = run(MikoExecutionContext, query)
    assert fast == run(DeadlineExecutionContext, query)
    assert fast[0]["items"][3]["computed"] == "ITEM 3"
    assert MikoExecutionContext.plans_used - before == 30  # only the plain `inner` objects


def test_a_null_in_a_non_null_field_gives_the_general_paths_error() -> None:
    BROKEN[0] = 7
    try:
        fast = run(MikoExecutionContext, PLAIN)
        assert fast == run(DeadlineExecutionContext, PLAIN)
        assert fast[0] is None
        assert fast[1] == [("Cannot return null for non-nullable field Item.name.",
                            ["items", 7, "name"])]
    finally:
        BROKEN[0] = None


def schema_with_cache(lru: DocumentLru) -> strawberry.Schema:
    return strawberry.Schema(query=Q, extensions=[make_document_cache(lru)],
                             execution_context_class=MikoExecutionContext)


def test_documents_are_parsed_and_validated_once_and_only_valid_ones_kept() -> None:
    lru = DocumentLru(2)
    schema = schema_with_cache(lru)
    for _ in range(3):
        assert schema.execute_sync("{ items { name } }").errors is None
    assert (lru.hits, lru.misses, len(lru)) == (2, 1, 1)
    for _ in range(2):  # refused each time with its own error; never cached
        result = schema.execute_sync("{ items { nope } }")
        assert result.errors and "Cannot query field 'nope'" in result.errors[0].message
    assert len(lru) == 1
    schema.execute_sync("{ items { colour } }")
    schema.execute_sync("{ items { votes } }")  # a third valid text: the oldest goes
    assert len(lru) == 2
    long = "{ items { name } }" + " " * MAX_CACHED_CHARS
    assert schema.execute_sync(long).errors is None and len(lru) == 2
    assert schema.execute_sync(long).errors is None and lru.hits == 2


def test_a_cached_document_still_gets_the_cost_check_of_its_variables() -> None:
    settings = Settings(_env_file=None, api_max_cost=500)  # type: ignore[call-arg]
    schema = build_schema(settings)
    query = "query($n: Int!) { posts(first: $n) { edges { node { id similarPosts(k: 10) { score } } } } }"
    context: Any = None
    # the limits admit by cost, asynchronously: the API runs the schema only with execute()
    costly = asyncio.run(schema.execute(query, variable_values={"n": 100}, context_value=context))
    assert costly.errors and "cost" in costly.errors[0].message
    again = asyncio.run(schema.execute(query, variable_values={"n": 100}, context_value=context))
    assert again.errors and "cost" in again.errors[0].message
    assert schema.miko_documents.hits >= 1  # type: ignore[attr-defined]


def test_every_field_of_intention_links_is_mapped_to_what_it_reads() -> None:
    schema = build_schema(Settings(_env_file=None))  # type: ignore[call-arg]
    link_type, intention_type = (schema._schema.type_map[n] for n in ("PostIntention", "Intention"))
    assert isinstance(link_type, GraphQLObjectType) and isinstance(intention_type, GraphQLObjectType)
    link_fields, intention_fields = set(link_type.fields), set(intention_type.fields)
    assert link_fields == set(LINK_EDGE_FIELDS)
    assert intention_fields == set(INTENTION_NODE_FIELDS)
