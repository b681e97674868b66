"""The operation's shape (depth, nesting, aliases, cost), each fragment measured once."""

from __future__ import annotations

import time
from typing import Any

import pytest
from graphql import GraphQLError, parse
from graphql.execution.values import VariableValues, get_variable_values

from kg_api.analysis import EMBED_COST as E
from kg_api.analysis import Analyser, AnalysisError, Shape, choose_operation
from kg_api.schema import build_schema
from kg_builder.core.settings import Settings

SCHEMA = build_schema(Settings(_env_file=None))._schema  # type: ignore[call-arg]


def shape(query: str, variables: dict[str, Any] | None = None, max_size: int | None = None,
          operation: str | None = None) -> Shape:
    document = parse(query)
    chosen = choose_operation(document, operation)
    coerced = get_variable_values(SCHEMA, chosen.variable_definitions or (), variables or {})
    assert isinstance(coerced, VariableValues), coerced
    return Analyser(SCHEMA, document, coerced, max_size).operation(chosen)


def cost(query: str, variables: dict[str, Any] | None = None, max_size: int | None = None) -> int:
    return shape(query, variables, max_size).cost


def bomb(levels: int) -> str:
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(1, levels)]
    fragments.append(f"fragment F{levels} on Query {{ a: relationStats {{ edges }} }}")
    return "query { ...F1 } " + " ".join(fragments)


def test_the_cost_multiplies_sizes_along_each_path() -> None:
    hostile = ("{ posts(first: 100) { edges { node { similarPosts(k: 100) { post { "
               "similarPosts(k: 100) { post { id intentions { text } } } } } } } } }")
    assert cost(hostile) > 1_000_000
    assert cost("{ relationStats { edges } }") == 20  # a list without `first`: 10 items
    # posts(first: 50), and under it edges, node, id: 50 each; intentions (10 a post) and
    # their text: 500 each
    assert cost("{ posts(first: 50) { edges { node { id intentions { text } } } } }") == (
        4 * 50 + 2 * 500)


def test_defaults_variables_and_fragments_count() -> None:
    assert cost("{ searchPosts(text: \"x\") { score } }") == 10 + 10 + E  # k defaults to 10
    assert cost("query($n: Int!) { searchPosts(text: \"x\", k: $n) { score } }", {"n": 7}) == 14 + E
    with_fragment = "{ ...F } fragment F on Query { searchPosts(text: \"x\", k: 3) { score } }"
    assert cost(with_fragment) == 6 + E
    inline = "{ keyInfo(kind: EMOTION, name: \"joy\") { ... on Emotion { posts(first: 5) { totalCount } } } }"
    assert cost(inline) == 1 + 5 + 5


def test_variables_are_priced_at_their_coerced_values() -> None:
    """A variable's default and a float variable (coerced to Int) cost what the literal costs."""
    literal = cost("{ searchPosts(text: \"x\", k: 90) { score } }")
    assert literal == 180 + E
    assert cost("query($k: Int! = 90) { searchPosts(text: \"x\", k: $k) { score } }") == literal
    assert cost("query($k: Int!) { searchPosts(text: \"x\", k: $k) { score } }",
                {"k": 90.0}) == literal
    assert cost("query($k: Int = 90) { searchPosts(text: \"x\", k: $k) { score } }",
                {"k": None}) == 20 + E  # an explicit null: priced at the field's default (10)


def test_sizes_over_the_cap_count_as_the_cap() -> None:
    assert cost("{ searchPosts(text: \"x\", k: 1000000) { score } }", max_size=100) == 200 + E
    assert cost("{ searchPosts(text: \"x\", k: -5) { score } }") == 2 + E


def test_depth_nesting_and_aliases_expand_fragments() -> None:
    measured = shape("{ ...F } fragment F on Query { a: relationStats { edges } "
                     "b: post(id: \"x\") { similarPosts { post { id } } } }")
    assert (measured.depth, measured.aliases) == (4, 2)
    assert measured.nesting == 5  # the spread is one more selection set
    many = shape("{ ...F ...G } fragment F on Query { ...G } fragment G on Query { x: __typename }")
    assert many.aliases == 2  # G spread twice


def test_a_fragment_bomb_and_a_long_chain_are_measured_without_expanding() -> None:
    started = time.perf_counter()
    measured = shape(bomb(40))  # 2^39 spreads of the last fragment, exactly counted
    assert (measured.aliases, measured.cost, measured.nesting) == (2**39, 10 * 2**40, 42)
    assert measured.fields == 2**40  # relationStats and edges, 2^39 times
    assert shape(bomb(80)).cost == 10**15  # capped: a bomb's measure stays a small integer
    chain = ("query { ...F0 } " + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}"
                                           for i in range(5_000))
             + " fragment F5000 on Query { relationStats { edges } }")
    assert shape(chain).nesting == 5_003  # no recursion: 5,000 fragments deep is fine
    assert time.perf_counter() - started < 5


def test_unknown_and_cyclic_fragments_are_left_to_validation() -> None:
    with pytest.raises(AnalysisError, match="unknown fragment 'Nope'"):
        shape("{ ...Nope }")
    with pytest.raises(AnalysisError, match="spreads itself"):
        shape("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")


def test_the_operation_is_chosen_by_the_spec() -> None:
    document = parse("query A { __typename } query B { relationStats { edges } }")
    with pytest.raises(GraphQLError, match="2 operations: name the one to run"):
        choose_operation(document, None)
    chosen = choose_operation(document, "B")
    assert chosen.name is not None and chosen.name.value == "B"
    with pytest.raises(GraphQLError, match="no operation named 'C'"):
        choose_operation(document, "C")
    with pytest.raises(GraphQLError, match="no operation"):
        choose_operation(parse("fragment F on Query { __typename }"), None)


def test_introspection_is_priced_by_what_it_returns_and_adds_no_depth() -> None:
    from graphql import get_introspection_query

    graphiql = shape(get_introspection_query(descriptions=True, input_value_deprecation=True))
    assert (graphiql.depth, graphiql.cost, graphiql.roots) == (0, 0, 1)
    assert 100 < graphiql.fields < 500
    assert 10_000 < graphiql.introspection < 50_000
    once = shape("{ __schema { types { name } } }").introspection
    thirty = shape("{ " + " ".join(f"a{i}: __schema {{ types {{ name }} }}" for i in range(30))
                   + " }").introspection
    assert thirty == 30 * once and once > 30  # the types list counts at its length
    nested = shape("{ __schema { types { fields { type { fields { type { fields { type { "
                   "fields { name } } } } } } } } } }")
    assert nested.introspection > 50_000  # 38 types x 5^4 fields


def test_repeated_fields_are_counted_per_merged_selection_set() -> None:
    assert shape("{ " + "relationStats { edges } " * 12 + "}").repeats == 12
    assert shape("{ a: relationStats { edges } b: relationStats { edges } }").repeats == 1
    # inline fragments and spreads merge into the selection set that holds them
    assert shape("{ posts(first: 1) { " + "...{ edges { cursor } } " * 20 + "} }").repeats == 20
    assert shape("{ relationStats { edges } ...F ...G } fragment F on Query { relationStats "
                 "{ edges } } fragment G on Query { ...F relationStats { posts } }").repeats == 4
    assert shape("{ a: __schema { types { name } } b: __type(name: \"Post\") { name } }").roots == 2


def test_a_search_by_key_information_costs_its_scan() -> None:
    from kg_api.analysis import KEY_INFO_SCAN_COST

    plain = cost('{ searchIntentions(text: "x", k: 3) { score } }')
    assert cost('{ searchIntentions(text: "x", k: 3, emotion: "joy") { score } }') == (
        plain + KEY_INFO_SCAN_COST)
    assert cost('query($e: String) { searchPosts(text: "x", k: 3, keyword: $e) { score } }',
                {"e": "rain"}) == plain + KEY_INFO_SCAN_COST
    assert cost('query($e: String) { searchPosts(text: "x", k: 3, keyword: $e) { score } }',
                {"e": None}) == plain  # a null filter scans nothing
    many = "{ " + " ".join(f'a{i}: searchIntentions(text: "x", emotion: "joy") {{ score }}'
                           for i in range(30)) + " }"
    assert cost(many) > 100_000  # over the default MIKO_API_MAX_COST: refused before it runs
