"""How many neighbours a vector search asks of the index (no database needed)."""

from __future__ import annotations

from kg_api.repository import candidates_for


def test_candidates_are_the_beam_unless_k_needs_more() -> None:
    assert candidates_for(10, 100) == 100
    assert candidates_for(100, 40) == 100  # never fewer than k
    assert candidates_for(5, 1) == 5
