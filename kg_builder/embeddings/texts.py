"""What a load embeds, in one place: each post's text, and each intention's tail once per
normalised tail (intentions whose tails differ only in case or spacing share one vector).

The online loader and the bulk loader group their new intentions with :func:`tails_to_embed`;
the Ray build's embedding stage, which embeds ahead of the load into a vector store, stores
:func:`record_texts` of every built post: a superset of what either loader will ask for, since
which spelling of a tail a loader embeds depends on which it meets first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kg_builder.core.models import PostRecord
from kg_builder.core.relations import normalise


@dataclass
class TailGroup:
    """One vector to compute: the text embedded (the first spelling met) and the intentions
    that take its vector."""

    text: str
    ids: list[str] = field(default_factory=list)


def tails_to_embed(intentions: Iterable[tuple[str, str]]) -> list[TailGroup]:
    """``(intention id, tail)`` pairs grouped by normalised tail, in first-seen order."""
    groups: dict[str, TailGroup] = {}
    for iid, tail in intentions:
        groups.setdefault(normalise(tail), TailGroup(tail)).ids.append(iid)
    return list(groups.values())


def record_texts(record: PostRecord) -> list[str]:
    """Every text a load may embed for one post: its text and each of its intentions' tails."""
    return [record.text, *(intent.tail for intent in record.intentions)]
