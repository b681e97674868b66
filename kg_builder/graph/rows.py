"""Typed rows of the read queries: the keys each map in ``queries.read`` returns, written down.

``from_map`` takes the map a statement returns (``p {.id, .text, ...}``) and fails loudly on a
missing key, so a query and its readers cannot drift apart silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation

Map = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PostRow:
    id: str
    text: str
    source: str | None
    split: str | None

    @classmethod
    def from_map(cls, m: Map) -> PostRow:
        return cls(id=m["id"], text=m["text"], source=m.get("source"), split=m.get("split"))


_RELATIONS = {r.value: r for r in Relation}  # a dict lookup: Relation(value) is 20x slower


# Intention rows are built a thousand times for a page of posts with their intentions, so they
# are not frozen (a frozen dataclass sets each field through object.__setattr__: twice the
# time); they are read-only by convention, like every row here.
@dataclass(slots=True)
class IntentionRow:
    id: str
    relation: Relation
    text: str
    tail: str
    typicality: float | None = None  # the highest of its edges' critic scores

    @classmethod
    def from_map(cls, m: Map) -> IntentionRow:
        """Id and relation required; a query that projects text or tail away (the API asking
        only for what its client selected) leaves them "" — never read then."""
        return cls(id=m["id"], relation=_RELATIONS[m["relation"]], text=m.get("text", ""),
                   tail=m.get("tail", ""), typicality=m.get("typicality"))


@dataclass(frozen=True, slots=True)
class HumanVoteRow:
    judge: str  # "<Label Studio host>#<project>/<annotator>"
    score: int
    time: str


@dataclass(frozen=True, slots=True)
class HumanJudgementRow:
    """People's judgements of one intention for one post (``miko annotate import``)."""

    score: float
    label: int | None
    agreement: float | None
    votes: tuple[HumanVoteRow, ...]

    @classmethod
    def from_edge(cls, edge: Map) -> HumanJudgementRow | None:
        judges = edge.get("judges") or []
        if not judges or edge.get("human_score") is None:
            return None
        votes = tuple(HumanVoteRow(j, int(s), str(t)) for j, s, t in zip(
            judges, edge.get("judge_scores") or [], edge.get("judge_times") or [], strict=False))
        return cls(score=float(edge["human_score"]), label=edge.get("human_label"),
                   agreement=edge.get("human_agreement"), votes=votes)


@dataclass(slots=True)
class IntentionLinkRow:
    """A post's edge to one of its intentions: the edge's properties and the intention.

    ``text`` is the sentence as generated for this post; the query sends it only when it
    differs from the intention node's text, and ``from_map`` fills it in.
    """

    text: str
    label: int | None
    label_votes: list[int] | None
    source: str | None
    model: str | None
    prompt_version: str | None
    intention: IntentionRow
    typicality: float | None = None
    critic: str | None = None
    human: HumanJudgementRow | None = None

    @classmethod
    def from_map(cls, m: Map) -> IntentionLinkRow:
        edge, node = m["edge"], IntentionRow.from_map(m["intention"])
        critic = (f"{edge['critic']} {edge.get('critic_version') or ''}".strip()
                  if edge.get("critic") else None)
        return cls(text=edge.get("text") or node.text, label=edge.get("label"),
                   label_votes=edge.get("label_votes"), source=edge.get("source"),
                   model=edge.get("model"), prompt_version=edge.get("prompt_version"),
                   intention=node, typicality=edge.get("typicality"), critic=critic,
                   human=HumanJudgementRow.from_edge(edge) if edge.get("judges") else None)


@dataclass(frozen=True, slots=True)
class ImageRow:
    id: str
    file: str | None
    sha256: str | None
    description: str | None

    @classmethod
    def from_map(cls, m: Map) -> ImageRow:
        return cls(id=m["id"], file=m.get("file"), sha256=m.get("sha256"),
                   description=m.get("description"))


@dataclass(frozen=True, slots=True)
class KeyInfoRow:
    kind: KeyInfoKind
    name: str
    display: str | None

    @classmethod
    def from_map(cls, m: Map, kind: KeyInfoKind | None = None) -> KeyInfoRow:
        return cls(kind=kind or KeyInfoKind.from_label(m["label"]), name=m["name"],
                   display=m.get("display"))


@dataclass(frozen=True, slots=True)
class IntentionHitRow:
    score: float
    intention: IntentionRow

    @classmethod
    def from_map(cls, m: Map) -> IntentionHitRow:
        return cls(score=m["score"], intention=IntentionRow.from_map(m["intention"]))


@dataclass(frozen=True, slots=True)
class PostHitRow:
    score: float
    post: PostRow

    @classmethod
    def from_map(cls, m: Map) -> PostHitRow:
        return cls(score=m["score"], post=PostRow.from_map(m["post"]))


@dataclass(frozen=True, slots=True)
class RelationStatRow:
    relation: Relation
    intentions: int
    edges: int
    posts: int


@dataclass(frozen=True, slots=True)
class TopIntentionRow:
    posts: int
    intention: IntentionRow

    @classmethod
    def from_map(cls, m: Map) -> TopIntentionRow:
        return cls(posts=m["posts"], intention=IntentionRow.from_map(m["intention"]))
