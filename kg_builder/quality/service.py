"""The quality services the CLI calls: score the graph's edges, train and evaluate the critic."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from kg_builder.core.settings import Settings
from kg_builder.embeddings import load_embedder
from kg_builder.graph.driver import graph
from kg_builder.inputs.readers import MikoReader
from kg_builder.quality.critic import Critic, load_critic
from kg_builder.quality.critic_training import (
    auc_with_interval,
    ceiling,
    collect,
    evaluate_feature_sets,
    fit,
    out_of_fold,
)
from kg_builder.quality.scoring import ScoreSummary, score_graph


def score_edges(settings: Settings, *, rescore_all: bool = False, progress: bool | None = None,
                critic: Critic | None = None) -> ScoreSummary:
    """Score the edges that need it (never scored by this critic version, or all)."""
    critic = critic or load_critic(settings.critic)
    with graph(settings) as driver:
        return score_graph(driver, settings.neo4j_database, critic, rescore_all=rescore_all,
                           progress=progress)


def train_critic(settings: Settings, references: Path, out: Path, folds: int = 5,
                 seed: int = 0) -> tuple[Critic, list[dict[str, Any]]]:
    """Compare the feature sets out of fold (split by post), train the best on every post."""
    embedder = load_embedder(settings)
    reader = MikoReader(references)
    examples = collect(reader, embedder)
    table = evaluate_feature_sets(examples, embedder, k=folds, seed=seed)
    best = table[0]
    critic = fit(examples, embedder, str(best["feature_set"]), float(best["C"]))
    files = [p for p, _ in reader.files()]
    critic.metrics = {"trained_on": [{"file": p.name, "sha256": hashlib.sha256(
                          p.read_bytes()).hexdigest()} for p in files],
                      "examples": len(examples.labels),
                      "posts": len(set(examples.groups)), "folds": folds, "seed": seed,
                      "C": best["C"], "auc": best["auc"], "interval": best["interval"],
                      "ceiling": ceiling(examples), "compared": table}
    critic.save(out)
    return critic, table


def evaluate_critic(settings: Settings, references: Path, critic_path: Path | None,
                    folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """The critic in use (``critic_path``, MIKO_CRITIC or the packaged one) scored on the labels
    of ``references``: ROC AUC with a bootstrap interval over posts, beside the relation alone
    and the labels' noise ceiling. Posts the critic was trained on are counted (``seen_posts``):
    on them the figure is not a held-out one. ``folds`` > 0 adds, for comparison, the critic's
    configuration retrained out of fold on ``references`` (split by post)."""
    critic = load_critic(critic_path)
    embedder = load_embedder(settings)
    critic.check_model(embedder.model_name, embedder.dimension)
    examples = collect(MikoReader(references), embedder)
    c = float(critic.metrics.get("C", 0.01))
    scores = critic.score(examples.post, examples.tail, examples.relations)
    relation_only = out_of_fold(examples, embedder, "relation", c, max(2, folds), seed)
    report: dict[str, Any] = {
        "critic": critic.name, "version": critic.version, "feature_set": critic.feature_set,
        "C": c, "references": str(references), "posts": len(set(examples.groups)),
        "examples": len(examples.labels), "scored": "the critic in use",
        **auc_with_interval(examples.labels, scores, examples.groups, seed=seed),
        "relation_only": auc_with_interval(examples.labels, relation_only, examples.groups,
                                           seed=seed),
        "ceiling": ceiling(examples), "rejected": len(examples.rejected),
        "trained_on": critic.metrics.get("trained_on", [])}
    if folds:
        retrained = out_of_fold(examples, embedder, critic.feature_set, c, folds, seed)
        report["retrained_out_of_fold"] = {
            "folds": folds, "split": "by post",
            **auc_with_interval(examples.labels, retrained, examples.groups, seed=seed)}
    return report
