"""``miko probe sarcasm``: do intentions help a sarcasm classifier? (the paper's Table 4)

The tweets of the MIKO release that are also in the Twitter sarcasm set (the MIKO image name is
the tweet id) carry both a sarcasm label and reference intentions; a run of ``miko build`` over
more sarcasm tweets adds its intentions and image descriptions. Each variant's text — the tweet
alone, with its intentions appended, with its image description appended where there is one — is
embedded by the shipped encoder (frozen) and classified by logistic regression, cross-validated
by tweet (stratified folds); accuracy and F1 come with bootstrap intervals over tweets.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kg_builder.core.errors import InputFormatError
from kg_builder.core.models import PostRecord
from kg_builder.embeddings.base import Embedder
from kg_builder.inputs.readers import ReadItem


@dataclass
class Tweet:
    tweet_id: str
    text: str
    label: int
    intentions: list[str]
    description: str | None


def sarcasm_labels(sarcasm: Iterable[ReadItem]) -> dict[str, tuple[str, int]]:
    """Tweet id -> (text, sarcasm label) of a sarcasm split."""
    labels: dict[str, tuple[str, int]] = {}
    for item in sarcasm:
        if isinstance(item, PostRecord) and isinstance(item.extra.get("sarcasm_label"), int):
            labels[item.id.rsplit(":", 1)[-1]] = (item.text, int(item.extra["sarcasm_label"]))
    return labels


def tweets(miko: Iterable[ReadItem], labels: dict[str, tuple[str, int]],
           runs: Iterable[ReadItem] = ()) -> tuple[list[Tweet], str]:
    """Sarcasm tweets with intentions, all from one source so that the intentions' style cannot
    give the label away: the runs' generated intentions when given, else the MIKO references.
    Returns the tweets and the source's name."""
    from_runs: dict[str, Tweet] = {}
    for item in runs:
        if not isinstance(item, PostRecord) or not item.intentions:
            continue
        tweet_id = item.id.rsplit(":", 1)[-1]
        if tweet_id in labels and tweet_id not in from_runs:
            from_runs[tweet_id] = Tweet(tweet_id, labels[tweet_id][0], labels[tweet_id][1],
                                        [i.tail for i in item.intentions],
                                        item.image.description if item.image else None)
    from_miko: dict[str, Tweet] = {}
    for item in miko:
        if not isinstance(item, PostRecord) or not item.intentions or not item.image:
            continue
        tweet_id = os.path.splitext(item.image.file or "")[0]
        if tweet_id in labels and tweet_id not in from_miko:
            from_miko[tweet_id] = Tweet(tweet_id, item.text, labels[tweet_id][1],
                                        [i.tail for i in item.intentions], None)
    found, source = (from_runs, "runs") if from_runs else (from_miko, "MIKO references")
    classes = {t.label for t in found.values()}
    if len(classes) < 2 or len(found) < 20:
        raise InputFormatError(
            f"the probe needs sarcastic and non-sarcastic tweets with intentions from one source; "
            f"the {source} give {len(found)} tweets with labels {sorted(classes)}. (All "
            f"{len(from_miko)} MIKO posts that are sarcasm tweets are labelled 0.) Write a "
            "balanced sample with `miko probe sarcasm --sample 200 --sample-out sample.jsonl`, "
            "build it (`miko build sample.jsonl --out run.jsonl`) and pass `--run run.jsonl`")
    return [found[k] for k in sorted(found)], source


def balanced_sample(labels: dict[str, tuple[str, int]], n: int, seed: int,
                    exclude: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """``n`` tweets, half sarcastic, as JSONL posts for ``miko build`` (id = the tweet id).

    The classes alternate, so that any first part of the file (a build stopped early) is
    balanced too."""
    import itertools
    import random

    rng = random.Random(seed)
    picked: list[list[dict[str, Any]]] = []
    for label in (1, 0):
        pool = sorted(t for t, (_, lab) in labels.items() if lab == label and t not in exclude)
        picked.append([{"id": f"twitter_sarcasm:{tweet_id}", "text": labels[tweet_id][0],
                        "source": "twitter_sarcasm", "sarcasm_label": label}
                       for tweet_id in rng.sample(pool, min(len(pool),
                                                            n // 2 if label else n - n // 2))])
    return [row for pair in itertools.zip_longest(*picked) for row in pair if row is not None]


def variants(items: list[Tweet]) -> dict[str, list[str]]:
    out = {"text": [t.text for t in items],
           "text + intentions": [f"{t.text} [SEP] {' '.join(t.intentions)}" for t in items]}
    if any(t.description for t in items):
        out["text + image description"] = [
            f"{t.text} [SEP] {t.description}" if t.description else t.text for t in items]
    return out


def _interval(values: npt.NDArray[np.float64], rng: np.random.Generator, labels: Any,
              preds: Any, metric: Any) -> list[float]:
    n = len(labels)
    boots = []
    for _ in range(len(values)):
        idx = rng.integers(0, n, n)
        boots.append(metric(labels[idx], preds[idx]))
    low, high = np.percentile(boots, [2.5, 97.5])
    return [round(100 * float(low), 2), round(100 * float(high), 2)]


def run_probe(items: list[Tweet], embedder: Embedder, folds: int = 10, seed: int = 0,
              n_boot: int = 1000) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray([t.label for t in items])
    k = max(2, min(folds, int(np.bincount(labels).min())))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    rows: dict[str, Any] = {}
    for name, texts in variants(items).items():
        x = embedder.embed(texts)
        preds = np.zeros(len(items), dtype=int)
        for train, test in splitter.split(x, labels):
            model = LogisticRegression(max_iter=2000, C=1.0)
            model.fit(x[train], labels[train])
            preds[test] = model.predict(x[test])
        rng = np.random.default_rng(seed)
        boot = np.zeros(n_boot)
        rows[name] = {
            "accuracy": round(100 * float(accuracy_score(labels, preds)), 2),
            "accuracy_interval": _interval(boot, rng, labels, preds, accuracy_score),
            "f1": round(100 * float(f1_score(labels, preds)), 2),
            "f1_interval": _interval(boot, rng, labels, preds, f1_score),
        }
    return {"tweets": len(items), "sarcastic": int(labels.sum()), "folds": k,
            "encoder": embedder.model_name, "classifier": "logistic regression (frozen encoder)",
            "with_image_description": sum(1 for t in items if t.description),
            "variants": rows}
