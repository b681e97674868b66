"""The quality services the CLI calls: score the graph's edges, train and evaluate the critic,
evaluate a run, export training data, probe sarcasm; and their reports as lines."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kg_builder.core.settings import Settings
from kg_builder.embeddings import load_embedder
from kg_builder.graph.driver import graph
from kg_builder.inputs.readers import JsonlReader, MikoReader, SarcasmReader
from kg_builder.quality.bertscore import BERTScorer
from kg_builder.quality.critic import Critic, load_critic
from kg_builder.quality.critic_training import (
    auc_with_interval,
    ceiling,
    collect,
    evaluate_feature_sets,
    fit,
    out_of_fold,
)
from kg_builder.quality.evaluation import EvalReport, evaluate, open_run
from kg_builder.quality.export import ExportSummary, export_sft
from kg_builder.quality.probe import balanced_sample, run_probe, sarcasm_labels, tweets
from kg_builder.quality.scoring import ScoreSummary, score_graph


def score_edges(settings: Settings, *, rescore_all: bool = False, progress: bool | None = None,
                critic: Critic | None = None, model: tuple[str, int] | None = None) -> ScoreSummary:
    """Score the edges that need it (never scored by this critic version, or all); ``model``:
    the graph's embedding model and dimension, when the caller has just checked them."""
    critic = critic or load_critic(settings.critic)
    with graph(settings) as driver:
        return score_graph(driver, settings.neo4j_database, critic, rescore_all=rescore_all,
                           progress=progress, model=model)


def default_references(settings: Settings) -> Path:
    """The labelled file the critic commands use by default: the MIKO release's train.json."""
    return settings.data_dir / "miko" / "train.json"


def default_critic_out(settings: Settings) -> Path:
    return settings.cache_dir / "critic" / "typicality.json"


def train_critic(settings: Settings, references: Path | None, out: Path | None, folds: int = 5,
                 seed: int = 0) -> tuple[Critic, list[dict[str, Any]], Path]:
    """Compare the feature sets out of fold (split by post), train the best on every post and
    write it to ``out`` (default: MIKO_CACHE_DIR/critic/typicality.json), which it returns."""
    references = references or default_references(settings)
    out = out or default_critic_out(settings)
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
    return critic, table, out


def evaluate_critic(settings: Settings, references: Path | None, critic_path: Path | None,
                    folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """The critic in use (``critic_path``, MIKO_CRITIC or the packaged one) scored on the labels
    of ``references``: ROC AUC with a bootstrap interval over posts, beside the relation alone
    and the labels' noise ceiling. Posts the critic was trained on are counted (``seen_posts``):
    on them the figure is not a held-out one. ``folds`` > 0 adds, for comparison, the critic's
    configuration retrained out of fold on ``references`` (split by post)."""
    references = references or default_references(settings)
    critic = load_critic(critic_path or settings.critic)
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


def describe_training(critic: Critic, table: list[dict[str, Any]], out: Path) -> list[str]:
    """``critic train``'s report: the feature sets compared out of fold, the noise ceiling."""
    lines = [f"{'features':<20} {'C':>7} {'AUC':>6}  95% interval (bootstrap over posts)"]
    for row in table:
        low, high = row["interval"]
        lines.append(f"{row['feature_set']:<20} {row['C']:>7g} {row['auc']:>6.3f}  "
                     f"[{low:.3f}, {high:.3f}]")
    ceil = critic.metrics["ceiling"]
    lines.append(f"noise ceiling: the {ceil['repeated_intentions']} intentions of repeated posts "
                 f"agree on {ceil['agreeing']} ({100 * (ceil['agreement'] or 0):.0f}%)")
    lines.append(f"wrote {out} ({critic.name} {critic.version}, {critic.feature_set}); use it "
                 f"with MIKO_CRITIC={out}")
    return lines


def describe_critic_eval(report: dict[str, Any]) -> list[str]:
    """``critic eval``'s report (``evaluate_critic``) as lines."""
    ceil = report["ceiling"]
    low, high = report["interval"]
    lines = [f"{report['critic']} {report['version']} ({report['feature_set']}, "
             f"C={report['C']:g}), the critic in use, on {report['posts']} posts, "
             f"{report['examples']} labels",
             f"ROC AUC {report['auc']:.3f} [{low:.3f}, {high:.3f}]; the relation alone "
             f"{report['relation_only']['auc']:.3f}"]
    if "retrained_out_of_fold" in report:
        oof = report["retrained_out_of_fold"]
        lines.append(f"its configuration retrained out of fold on this file ({oof['folds']} "
                     f"folds by post): {oof['auc']:.3f} [{oof['interval'][0]:.3f}, "
                     f"{oof['interval'][1]:.3f}]")
    lines.append(f"noise ceiling: repeated posts' labels agree on {ceil['agreeing']} of "
                 f"{ceil['repeated_intentions']} intentions "
                 f"({100 * (ceil['agreement'] or 0):.0f}%)")
    return lines


def export_training_data(settings: Settings, out: Path, **filters: Any) -> ExportSummary:
    """``export_sft`` of the configured graph (``filters``: its keyword arguments)."""
    with graph(settings) as driver:
        return export_sft(driver, settings.neo4j_database, out, **filters)


def evaluate_run(settings: Settings, run: Path, references: Path, *, backbone: str | None = None,
                 seed: int = 0, retrieval: bool = True, k: int = 10) -> EvalReport:
    """``miko eval``: BERTScore of a run's intentions against a release's kept references, with
    the baselines on the same pairs (the retrieval ones embed the posts: ``retrieval``)."""
    scorer = BERTScorer(backbone or settings.eval_backbone, layer=settings.eval_layer,
                        device=settings.embedding_device)
    embedder = load_embedder(settings) if retrieval else None
    return evaluate(open_run(run), MikoReader(references), scorer, seed=seed, embedder=embedder,
                    k=k)


def sample_sarcasm(settings: Settings, sarcasm: Path | None, n: int, seed: int,
                   out: Path) -> list[str]:
    """Write ``n`` sarcasm tweets (half sarcastic) for ``miko build``; what to print."""
    rows = balanced_sample(sarcasm_labels(SarcasmReader(
        sarcasm or settings.data_dir / "twitter_sarcasm" / "train.txt")), n, seed)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    return [f"wrote {len(rows)} tweets ({sum(r['sarcasm_label'] for r in rows)} sarcastic) to "
            f"{out}; next: miko build {out} --out run.jsonl, then miko probe sarcasm --run "
            "run.jsonl"]


def probe_sarcasm(settings: Settings, miko: Path | None, sarcasm: Path | None,
                  runs: Sequence[Path], folds: int, seed: int) -> dict[str, Any]:
    """Sarcasm detection with and without intentions (``run_probe``) on the release's tweets
    and those of ``runs`` (``miko build`` output over sarcasm tweets)."""
    labels = sarcasm_labels(SarcasmReader(
        sarcasm or settings.data_dir / "twitter_sarcasm" / "train.txt"))
    items, source = tweets(MikoReader(miko or settings.data_dir / "miko"), labels,
                           itertools.chain.from_iterable(JsonlReader(r) for r in runs))
    report = run_probe(items, load_embedder(settings), folds, seed)
    report["intentions_from"] = source
    return report


def describe_probe(report: dict[str, Any]) -> list[str]:
    lines = [f"{report['tweets']} tweets ({report['sarcastic']} sarcastic), {report['folds']}-fold "
             f"cross-validation by tweet; {report['encoder']} (frozen) + logistic regression",
             f"{'input':<26} {'accuracy':>9} {'95% interval':>15} {'F1':>7} {'95% interval':>15}"]
    for name, v in report["variants"].items():
        acc_lo, acc_hi = v["accuracy_interval"]
        f1_lo, f1_hi = v["f1_interval"]
        lines.append(f"{name:<26} {v['accuracy']:>9.2f} [{acc_lo:>5.1f}, {acc_hi:>5.1f}] "
                     f"{v['f1']:>7.2f} [{f1_lo:>5.1f}, {f1_hi:>5.1f}]")
    return lines
