"""The API's argument checks: each bad value is a BAD_INPUT naming the argument."""

from __future__ import annotations

import pytest

from kg_api.errors import BadInputError
from kg_api.inputs import (
    PostFilter,
    check_human_label,
    check_human_score,
    check_label,
    check_text,
    check_typicality,
    decode_cursor,
    encode_cursor,
    key_filter,
    lucene_terms,
)
from kg_builder.core.key_info import KeyInfoKind


@pytest.mark.parametrize("node_id", ["miko:train:1", "é 🎉", "", "c:nested"])
def test_a_cursor_round_trips(node_id: str) -> None:
    assert decode_cursor(encode_cursor(node_id)) == node_id


@pytest.mark.parametrize("cursor", ["not base64!!", "YWJj", "//79", "\u00e9"])
def test_a_cursor_not_made_here_is_refused(cursor: str) -> None:
    with pytest.raises(BadInputError, match="`after` is not a cursor"):
        decode_cursor(cursor)


def test_no_cursor_is_the_first_page() -> None:
    assert decode_cursor(None) is None


def test_blank_text_is_refused_by_name() -> None:
    assert check_text(" a ") == " a "
    with pytest.raises(BadInputError, match="`query` must not be empty"):
        check_text(" \t\n", "query")


@pytest.mark.parametrize(("check", "good", "bad", "name"), [
    (check_typicality, [None, 0.0, 0.5, 1.0], [-0.01, 1.01, float("nan")], "minTypicality"),
    (check_label, [None, 0, 1], [2, -1], "label"),
    (check_human_score, [None, -1.0, 0.0, 1.0], [-1.5, 1.5], "minHumanScore"),
    (check_human_label, [None, -1, 0, 1], [2, -2], "humanLabel"),
])
def test_range_checks(check: object, good: list[object], bad: list[object], name: str) -> None:
    assert callable(check)
    assert [check(v) for v in good] == good
    for value in bad:
        with pytest.raises(BadInputError, match=f"`{name}`"):
            check(value)


def test_lucene_specials_are_escaped_and_operators_become_terms() -> None:
    assert lucene_terms('Cats AND (dogs) OR "x"~2') == 'cats and \\(dogs\\) or \\"x\\"\\~2'
    assert lucene_terms("  a\n\tb  ") == "a b"
    with pytest.raises(BadInputError, match="at least one word"):
        lucene_terms("   ")


def test_key_filters_are_normalised_as_the_loader_stores_them() -> None:
    assert key_filter(emotion="  JOY ", keyword=None) == {KeyInfoKind.EMOTION: "joy"}
    with pytest.raises(BadInputError, match="`concept` must not be empty"):
        key_filter(concept="   ")
    assert PostFilter(emotion="Joy", keyword="Cats").key_info() == {
        KeyInfoKind.EMOTION: "joy", KeyInfoKind.KEYWORD: "cats"}
