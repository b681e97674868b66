"""The pauses of the index wait: short at first, so a small build returns promptly, then capped."""

from __future__ import annotations

from itertools import islice

from kg_builder.graph.schema import INDEX_POLL_S, poll_pauses


def test_pauses_start_short_double_and_stop_at_the_longest() -> None:
    assert list(islice(poll_pauses(5.0, first_s=0.05), 10)) == [
        0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]


def test_the_default_first_pause_is_under_a_tenth_of_a_second() -> None:
    first, *_ = islice(poll_pauses(INDEX_POLL_S), 1)
    assert 0 < first <= 0.1


def test_a_longest_pause_below_the_first_wins() -> None:
    assert list(islice(poll_pauses(0.01, first_s=0.05), 3)) == [0.01, 0.01, 0.01]
