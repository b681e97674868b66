"""The student services the CLI calls: train one on the graph's (or a release file's) kept
intentions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kg_builder.core.relations import Relation
from kg_builder.core.settings import Settings
from kg_builder.embeddings import load_embedder
from kg_builder.generation.fewshot import Kept
from kg_builder.inputs.readers import MikoReader
from kg_builder.student.examples import build_examples, kept_posts
from kg_builder.student.training import Trainer, TrainSettings, file_sha256, packaged_base


def graph_posts(settings: Settings, split: str, min_typicality: float | None,
                page_posts: int = 1000) -> list[Kept]:
    """The graph's posts of ``split`` with their kept intentions (label 1) whose edges the critic
    scored at least ``min_typicality`` (the typicality stored on every edge at load)."""
    from kg_builder.graph.driver import graph
    from kg_builder.graph.paging import post_pages
    from kg_builder.graph.queries import quality as q

    posts: list[Kept] = []
    params = {"limit": page_posts, "split": split, "min_typicality": min_typicality}
    with graph(settings) as driver:
        for rows in post_pages(driver, settings.neo4j_database, q.student_page(), params):
            for row in rows:
                tails = {Relation(k["relation"]): k["tail"] for k in sorted(
                    row["kept"], key=lambda k: (k["relation"], k["tail"])) if k["tail"]}
                if tails:
                    posts.append(Kept(row["id"], row["text"], tails))
    return posts


def train_student(settings: Settings, references: Path | None, out: Path, base: Path | None,
                  train: TrainSettings, max_minutes: float | None = None,
                  say: Callable[[str], None] | None = None, split: str = "train"
                  ) -> dict[str, Any]:
    """Examples from the graph's ``split`` posts, or from ``references`` (a MIKO release file):
    their kept intentions (label 1), optionally only those the critic scores at or above
    ``train.min_typicality``; then LoRA training into ``out`` (see ``training``). The manifest."""
    from kg_builder.core.models import Rejection

    rejected: list[Rejection] = []
    embedder = load_embedder(settings)
    keep: dict[tuple[str, Relation], bool] | None = None
    if references is None:
        posts = graph_posts(settings, split, train.min_typicality)
        selection: dict[str, Any] = {
            "source": "graph", "database": settings.neo4j_database, "split": split,
            "label": 1, "min_typicality": train.min_typicality, "typicality_from": "edges",
            "embedding_model": embedder.model_name}
    else:
        posts = kept_posts(MikoReader(references), rejected)
        selection = {"source": str(references), "source_sha256": file_sha256(references),
                     "label": 1, "min_typicality": train.min_typicality,
                     "typicality_from": "the critic in use", "rejected_records": len(rejected),
                     "embedding_model": embedder.model_name}
    if references is not None and train.min_typicality is not None:
        from kg_builder.quality.critic import load_critic

        critic = load_critic(settings.critic)
        critic.check_model(embedder.model_name, embedder.dimension)
        pairs = [(p, rel, tail) for p in posts for rel, tail in p.tails.items()]
        post_vectors = embedder.embed([p.text for p, _, _ in pairs])
        tail_vectors = embedder.embed([tail for _, _, tail in pairs])
        scores = critic.score(post_vectors, tail_vectors, [rel for _, rel, _ in pairs])
        keep = {(p.id, rel): bool(score >= train.min_typicality)
                for (p, rel, _), score in zip(pairs, scores, strict=True)}
    data = build_examples(posts, embedder, shots=train.shots,
                          valid_fraction=train.valid_fraction, seed=train.seed, keep=keep,
                          zero_shot_fraction=train.zero_shot_fraction)
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(data, base or packaged_base(), out, train, selection,
                      max_minutes=max_minutes, on_progress=say)
    return trainer.run()


def describe_manifest(manifest: dict[str, Any], out: Path) -> list[str]:
    """``student train``'s report: what was trained, how far, on what."""
    data = manifest["data"]
    return [f"student {manifest['id']} in {out}: {manifest['steps']} steps "
            f"({manifest['stopped']}), best validation loss {manifest['best_valid_loss']:.4f} at "
            f"step {manifest['best_step']}, on {data['train_examples']} examples of "
            f"{data['train_posts']} posts ({data['valid_posts']} held out), "
            f"{manifest['train_seconds']:.0f}s on {manifest['device']}"]


__all__ = ["TrainSettings", "describe_manifest", "train_student"]
