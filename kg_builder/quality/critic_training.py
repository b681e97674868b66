"""Train and evaluate the typicality critic on MIKO labels, split by post, never by intention.

Each annotation vote is one example (the 16 posts that appear twice in ``train.json`` give two,
which often disagree). Evaluation is out of fold: posts are split into folds, each fold scored by
a critic trained on the others; the ROC AUC over all held-out examples comes with a bootstrap
interval over posts. The noise ceiling — how often the two label vectors of a repeated post
agree — is reported beside it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kg_builder.core.errors import InputFormatError
from kg_builder.core.models import PostRecord, Rejection
from kg_builder.core.relations import Relation
from kg_builder.embeddings.base import Embedder
from kg_builder.inputs.readers import ReadItem
from kg_builder.quality.critic import FEATURE_SETS, Critic, features


@dataclass
class Examples:
    """One row per annotation vote: the post (group), relation, vectors and the label."""

    groups: list[str]
    relations: list[Relation]
    post: npt.NDArray[np.float32]
    tail: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    repeated_agreement: tuple[int, int]  # (agreeing votes, pairs) over repeated posts
    rejected: list[Rejection]


def collect(items: Iterable[ReadItem], embedder: Embedder) -> Examples:
    groups: list[str] = []
    relations: list[Relation] = []
    post_texts: list[str] = []
    tails: list[str] = []
    labels: list[int] = []
    agree = pairs = 0
    rejected: list[Rejection] = []
    for item in items:
        if isinstance(item, Rejection):
            rejected.append(item)
            continue
        for intent in item.intentions:
            votes = [v for v in intent.label_votes if v in (0, 1)] or (
                [intent.label] if intent.label in (0, 1) else [])
            if len(votes) == 2:
                pairs += 1
                agree += votes[0] == votes[1]
            for vote in votes:
                groups.append(item.id)
                relations.append(intent.relation)
                post_texts.append(item.text)
                tails.append(intent.tail)
                labels.append(int(vote))
    if len(set(labels)) < 2:
        raise InputFormatError("the critic needs intentions labelled both 1 and 0 (a MIKO "
                               "release file with intentions, such as train.json)")
    unique_posts = sorted(set(post_texts))
    unique_tails = sorted(set(tails))
    pv = dict(zip(unique_posts, embedder.embed(unique_posts), strict=True))
    tv = dict(zip(unique_tails, embedder.embed(unique_tails), strict=True))
    return Examples(groups, relations, np.stack([pv[t] for t in post_texts]),
                    np.stack([tv[t] for t in tails]), np.asarray(labels), (agree, pairs), rejected)


def fit(ex: Examples, embedder: Embedder, feature_set: str, c: float,
        rows: Sequence[int] | npt.NDArray[np.int64] | None = None) -> Critic:
    from sklearn.linear_model import LogisticRegression

    idx = np.arange(len(ex.labels)) if rows is None else np.asarray(rows)
    x = features(ex.post[idx], ex.tail[idx], [ex.relations[i] for i in idx], feature_set)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0  # a (nearly) constant column: standardising it would blow up
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit((x - mean) / scale, ex.labels[idx])
    return Critic(embedder.model_name, embedder.dimension, feature_set,
                  np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0]),
                  mean, scale)


def folds(groups: Sequence[str], k: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """Row indices of ``k`` folds, each holding whole posts."""
    posts = sorted(set(groups))
    random.Random(seed).shuffle(posts)
    fold_of = {p: n % k for n, p in enumerate(posts)}
    assigned = np.asarray([fold_of[g] for g in groups])
    return [np.flatnonzero(assigned == f) for f in range(k)]


def out_of_fold(ex: Examples, embedder: Embedder, feature_set: str, c: float, k: int = 5,
                seed: int = 0) -> npt.NDArray[np.float64]:
    scores = np.zeros(len(ex.labels))
    for held in folds(ex.groups, k, seed):
        train = np.setdiff1d(np.arange(len(ex.labels)), held)
        critic = fit(ex, embedder, feature_set, c, train)
        scores[held] = critic.score(ex.post[held], ex.tail[held], [ex.relations[i] for i in held])
    return scores


def auc_with_interval(labels: npt.NDArray[np.int64], scores: npt.NDArray[np.float64],
                      groups: Sequence[str], n_boot: int = 1000, seed: int = 0
                      ) -> dict[str, Any]:
    """ROC AUC and its 95% bootstrap interval, resampling posts (not intentions)."""
    from sklearn.metrics import roc_auc_score

    auc = float(roc_auc_score(labels, scores))
    by_post: dict[str, list[int]] = {}
    for row, g in enumerate(groups):
        by_post.setdefault(g, []).append(row)
    posts = list(by_post)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        rows = np.concatenate([by_post[posts[i]] for i in rng.integers(0, len(posts), len(posts))])
        if len(set(labels[rows].tolist())) == 2:
            boots.append(roc_auc_score(labels[rows], scores[rows]))
    low, high = np.percentile(boots, [2.5, 97.5])
    return {"auc": round(auc, 4), "interval": [round(float(low), 4), round(float(high), 4)],
            "bootstrap": len(boots)}


def evaluate_feature_sets(ex: Examples, embedder: Embedder,
                          cs: Sequence[float] = (0.0001, 0.0003, 0.001),
                          k: int = 5, seed: int = 0) -> list[dict[str, Any]]:
    """Out-of-fold AUC of every feature set and regularisation, best first."""
    rows = []
    for feature_set in FEATURE_SETS:
        for c in cs:
            scores = out_of_fold(ex, embedder, feature_set, c, k, seed)
            rows.append({"feature_set": feature_set, "C": c,
                         **auc_with_interval(ex.labels, scores, ex.groups, seed=seed)})
    return sorted(rows, key=lambda r: -float(r["auc"]))


def ceiling(ex: Examples) -> dict[str, Any]:
    agree, pairs = ex.repeated_agreement
    return {"repeated_intentions": pairs, "agreeing": agree,
            "agreement": round(agree / pairs, 4) if pairs else None}


def posts_of(items: Iterable[ReadItem]) -> list[PostRecord]:
    return [i for i in items if isinstance(i, PostRecord)]
