"""Training examples for the student: each kept intention, prompted with the graph's own knowledge.

An example is one (post, relation) whose reference intention annotators kept (label 1). Its
prompt shows the ``shots`` most similar *other* training posts (cosine of the post embeddings,
never the post itself nor a post with the same text) with their kept intention of the same
relation, then the post and the relation's template; the target is the post's own kept tail. The
same prompt, with neighbours retrieved from the training posts, is what the student answers at
generation time, so that it learns to adapt the knowledge at hand rather than to recall it.

Posts are split into training and validation *by post* (a seeded shuffle), so no validation
post, nor its text, is seen in training or retrieved as a neighbour of a training example.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from kg_builder.core.errors import StudentError
from kg_builder.core.models import Rejection
from kg_builder.core.relations import Relation, normalise
from kg_builder.embeddings.base import Embedder
from kg_builder.generation.fewshot import Kept, Retriever, prompt_for, unit
from kg_builder.inputs.readers import ReadItem

MIN_TRAIN_POSTS = 2
MIN_VALID_POSTS = 1


@dataclass(frozen=True)
class Example:
    post_id: str
    relation: Relation
    prompt: str
    target: str


@dataclass
class ExampleSet:
    train: list[Example]
    valid: list[Example]
    train_posts: list[str]
    valid_posts: list[str]
    rejected: list[Rejection] = field(default_factory=list)
    dropped_by_typicality: int = 0

    def digest(self) -> str:
        """A hash of every example (prompt and target), in order: the data the student saw."""
        h = hashlib.sha256()
        for part, examples in (("train", self.train), ("valid", self.valid)):
            for ex in examples:
                h.update(f"{part}\x1f{ex.post_id}\x1f{ex.relation.value}\x1f{ex.prompt}\x1f"
                         f"{ex.target}\x1e".encode())
        return h.hexdigest()


def kept_posts(items: Iterable[ReadItem], rejected: list[Rejection]) -> list[Kept]:
    """Posts with at least one kept intention; repeated posts (same id) merged."""
    by_id: dict[str, Kept] = {}
    for item in items:
        if isinstance(item, Rejection):
            rejected.append(item)
            continue
        tails = {i.relation: i.tail for i in item.intentions if i.label == 1 and i.tail.strip()}
        if not tails:
            continue
        known = by_id.get(item.id)
        by_id[item.id] = Kept(item.id, item.text, {**(known.tails if known else {}), **tails})
    return list(by_id.values())


def build_examples(posts: Sequence[Kept], embedder: Embedder, *, shots: int = 2,
                   valid_fraction: float = 0.1, seed: int = 0,
                   keep: dict[tuple[str, Relation], bool] | None = None,
                   zero_shot_fraction: float = 0.0) -> ExampleSet:
    """Examples split by post (see the module's docstring); ``keep`` (from a typicality filter)
    drops the (post, relation) pairs it marks False as targets, not as neighbours' answers.
    A seeded ``zero_shot_fraction`` of the training examples shows no neighbour, so that the
    student also answers well where the graph has no similar post to show (an empty graph)."""
    ids = sorted({p.id for p in posts})
    random.Random(seed).shuffle(ids)
    n_valid = max(MIN_VALID_POSTS, round(len(ids) * valid_fraction)) if len(ids) > 1 else 0
    valid_ids = set(ids[:n_valid])
    train_posts = [p for p in posts if p.id not in valid_ids]
    valid_posts = [p for p in posts if p.id in valid_ids]
    valid_texts = {normalise(p.text) for p in valid_posts}
    train_posts = [p for p in train_posts if normalise(p.text) not in valid_texts]  # twins
    if len(train_posts) < MIN_TRAIN_POSTS or len(valid_posts) < MIN_VALID_POSTS:
        raise StudentError(
            f"the training set is too small: {len(train_posts)} training and {len(valid_posts)} "
            f"validation posts with kept intentions (label 1); the student needs at least "
            f"{MIN_TRAIN_POSTS} and {MIN_VALID_POSTS}: pass a release file with more labelled "
            "posts (such as MIKO's train.json), or lower --min-typicality")
    retriever = Retriever(train_posts, embedder)
    assert retriever.vectors is not None
    valid_vectors = unit(embedder.embed([p.text for p in valid_posts]))
    dropped = 0

    coin = random.Random(seed * 7919 + 1)

    def examples(group: Sequence[Kept], vectors: npt.NDArray[np.float32],
                 zero_shot: float) -> list[Example]:
        nonlocal dropped
        out = []
        for post, vector in zip(group, vectors, strict=True):
            for relation, tail in sorted(post.tails.items(), key=lambda kv: kv[0].value):
                if keep is not None and not keep.get((post.id, relation), True):
                    dropped += 1
                    continue
                k = 0 if zero_shot and coin.random() < zero_shot else shots
                prompt = prompt_for(relation, post.text,
                                    retriever.shots(post.text, relation, k, vector))
                out.append(Example(post.id, relation, prompt, f" {tail}"))
        return out

    train = examples(train_posts, retriever.vectors, zero_shot_fraction)
    valid = examples(valid_posts, valid_vectors, 0.0)
    if not train or not valid:
        raise StudentError("no training or no validation example is left after the typicality "
                           "filter: lower --min-typicality")
    return ExampleSet(train, valid, sorted(p.id for p in train_posts),
                      sorted(p.id for p in valid_posts), dropped_by_typicality=dropped)
