"""Judgements of one intention for one post, their aggregate, and agreement between annotators.

Scores are the paper's: 1 high typicality, 0 low typicality, -1 implausible.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SCORES: tuple[int, ...] = (1, 0, -1)
SCORE_NAMES: dict[int, str] = {1: "high", 0: "low", -1: "implausible"}


@dataclass(frozen=True)
class Vote:
    judge: str  # "<project key>/<annotator>"
    score: int
    time: str  # ISO-8601, when the annotation was last changed


@dataclass(frozen=True)
class Aggregate:
    votes: int
    score: float | None  # mean of the scores
    label: int | None  # the score more than half the votes gave; None without such a majority
    agreement: float | None  # share of votes equal to the most common score; None below 2 votes


def aggregate(scores: Sequence[int]) -> Aggregate:
    if not scores:
        return Aggregate(votes=0, score=None, label=None, agreement=None)
    counts = Counter(scores)
    top, n_top = counts.most_common(1)[0]
    return Aggregate(
        votes=len(scores), score=sum(scores) / len(scores),
        label=top if n_top * 2 > len(scores) else None,
        agreement=n_top / len(scores) if len(scores) > 1 else None,
    )


def merge_votes(stored: Iterable[Vote], prefix: str, fresh: Iterable[Vote]) -> list[Vote]:
    """The stored votes of other projects, then this project's (``prefix``) as they are now: a
    changed annotation replaces the old one, a deleted one disappears."""
    kept = [v for v in stored if not v.judge.startswith(prefix)]
    return kept + sorted(fresh, key=lambda v: v.judge)


def pairwise_agreement(items: Iterable[Sequence[int]]) -> float | None:
    """Share of annotator pairs judging the same intention who gave the same score."""
    agree = pairs = 0
    for scores in items:
        counts = Counter(scores)
        n = len(scores)
        pairs += n * (n - 1) // 2
        agree += sum(c * (c - 1) // 2 for c in counts.values())
    return agree / pairs if pairs else None


def krippendorff_alpha(items: Iterable[Sequence[int]]) -> float | None:
    """Krippendorff's alpha for nominal scores, any number of annotators per intention (items
    with one vote do not count). 1 is perfect agreement, 0 chance, below 0 worse than chance."""
    coincidence: dict[tuple[int, int], float] = defaultdict(float)
    for scores in items:
        m = len(scores)
        if m < 2:
            continue
        counts = Counter(scores)
        for a, na in counts.items():
            for b, nb in counts.items():
                pairs = na * (nb - (1 if a == b else 0))
                if pairs:
                    coincidence[(a, b)] += pairs / (m - 1)
    n = sum(coincidence.values())
    if n <= 1:
        return None
    marginal: dict[int, float] = defaultdict(float)
    for (a, _b), value in coincidence.items():
        marginal[a] += value
    observed = sum(v for (a, b), v in coincidence.items() if a != b)
    expected = sum(marginal[a] * marginal[b] for a in marginal for b in marginal if a != b) / (n - 1)
    if expected == 0:
        return 1.0 if observed == 0 else None
    return 1.0 - observed / expected
