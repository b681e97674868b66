"""The student services the CLI calls: train one on a release file's kept intentions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kg_builder.core.relations import Relation
from kg_builder.core.settings import Settings
from kg_builder.embeddings import load_embedder
from kg_builder.loading.readers import MikoReader
from kg_builder.student.examples import build_examples, kept_posts
from kg_builder.student.training import Trainer, TrainSettings, file_sha256, packaged_base


def train_student(settings: Settings, references: Path, out: Path, base: Path | None,
                  train: TrainSettings, max_minutes: float | None = None,
                  say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Examples from ``references`` (a MIKO release file: its kept intentions, label 1,
    optionally those the critic in use scores at or above ``train.min_typicality``), then
    LoRA training into ``out`` (see ``training``); the manifest."""
    from kg_builder.core.models import Rejection

    rejected: list[Rejection] = []
    posts = kept_posts(MikoReader(references), rejected)
    embedder = load_embedder(settings)
    keep: dict[tuple[str, Relation], bool] | None = None
    if train.min_typicality is not None:
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
                          valid_fraction=train.valid_fraction, seed=train.seed, keep=keep)
    out.mkdir(parents=True, exist_ok=True)
    selection = {"source": str(references), "source_sha256": file_sha256(references),
                 "label": 1, "min_typicality": train.min_typicality,
                 "rejected_records": len(rejected), "embedding_model": embedder.model_name}
    trainer = Trainer(data, base or packaged_base(), out, train, selection,
                      max_minutes=max_minutes, on_progress=say)
    return trainer.run()
