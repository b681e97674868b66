"""The query cost is counted before execution, from the schema's size arguments."""

from __future__ import annotations

from typing import Any

from graphql import parse

from kg_api.limits import query_cost
from kg_api.schema import build_schema
from kg_builder.core.settings import Settings

SCHEMA = build_schema(Settings(_env_file=None))._schema  # type: ignore[call-arg]


def cost(query: str, variables: dict[str, Any] | None = None, max_size: int | None = None) -> int:
    return query_cost(SCHEMA, parse(query), None, variables, max_size)


def test_the_cost_multiplies_sizes_along_each_path() -> None:
    hostile = ("{ posts(first: 100) { edges { node { similarPosts(k: 100) { post { "
               "similarPosts(k: 100) { post { id intentions { text } } } } } } } } }")
    assert cost(hostile) > 1_000_000
    assert cost("{ relationStats { edges } }") == 2
    # posts(first: 50), and under it edges, node, id, intentions, text: 50 each
    assert cost("{ posts(first: 50) { edges { node { id intentions { text } } } } }") == 6 * 50


def test_defaults_variables_and_fragments_count() -> None:
    assert cost("{ searchPosts(text: \"x\") { score } }") == 10 + 10  # k defaults to 10
    assert cost("query($n: Int!) { searchPosts(text: \"x\", k: $n) { score } }", {"n": 7}) == 14
    with_fragment = "{ ...F } fragment F on Query { searchPosts(text: \"x\", k: 3) { score } }"
    assert cost(with_fragment) == 6
    inline = "{ keyInfo(kind: EMOTION, name: \"joy\") { ... on Emotion { posts(first: 5) { totalCount } } } }"
    assert cost(inline) == 1 + 5 + 5


def test_sizes_over_the_cap_count_as_the_cap() -> None:
    assert cost("{ searchPosts(text: \"x\", k: 1000000) { score } }", max_size=100) == 200
