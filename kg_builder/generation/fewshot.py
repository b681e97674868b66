"""The graph's own knowledge as in-context examples: the student's prompt and its retriever.

The student (``kg_builder.student``) is trained on exactly the prompts written here, and answers
them at generation time (``stages.student_intentions``): the ``k`` most similar posts' kept
intentions of one relation (cosine of the post embeddings; never the post itself nor a post with
the same text), the most similar last, then the post and the relation's template, which the
model completes. The prompt is ``prompts/student_intentions.txt``; ``PROMPT_VERSION`` names the
prompt's shape (a change of it makes another student, see ``student.training``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from kg_builder.core.relations import Relation, normalise
from kg_builder.embeddings.base import Embedder
from kg_builder.generation.prompts import PromptTemplate, load_template

PROMPT_VERSION = "student-fewshot-v1"
TEMPLATE_NAME = "student_intentions"
PLACEHOLDERS = frozenset({"examples", "post_text", "template"})
MAX_POST_CHARS = 400  # a post is cut here in prompts (social-media posts are short)


@dataclass(frozen=True)
class Kept:
    """A post with its kept intentions (label 1), by relation."""

    id: str
    text: str
    tails: dict[Relation, str]


@cache
def student_template() -> PromptTemplate:
    return load_template(TEMPLATE_NAME, set(PLACEHOLDERS))


def prompt_for(relation: Relation, text: str, shots: Sequence[tuple[str, str]],
               template: PromptTemplate | None = None) -> str:
    """The student's prompt: the neighbours' (text, tail) pairs, then the post and template."""
    opening = relation.spec.template
    examples = "".join(f"Post: {cut(other)}\n{opening} {cut(tail)}\n\n" for other, tail in shots)
    return (template or student_template()).render(
        examples=examples, post_text=cut(text), template=opening)


def cut(text: str) -> str:
    """A text on one line (every run of whitespace, line breaks included, one space), at most
    MAX_POST_CHARS characters: no post or tail can add a line to the prompt."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_POST_CHARS else text[:MAX_POST_CHARS - 1] + "…"


def unit(vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        array = array.reshape(len(array), -1) if array.size else np.zeros((0, 1), np.float32)
    result: npt.NDArray[np.float32] = array / np.maximum(
        np.linalg.norm(array, axis=1, keepdims=True), 1e-12)
    return result


class Retriever:
    """The most similar posts of a pool to a text, by post embedding, with their kept tails.

    ``vectors`` (one per pool post, e.g. the embeddings stored in the graph) saves embedding
    the pool again; they must come from ``embedder``'s model.
    """

    def __init__(self, pool: Sequence[Kept], embedder: Embedder,
                 vectors: npt.ArrayLike | None = None) -> None:
        self.pool = list(pool)
        self.embedder = embedder
        if vectors is not None and len(self.pool):
            self.vectors: npt.NDArray[np.float32] | None = unit(vectors)
        elif self.pool:
            self.vectors = unit(embedder.embed([p.text for p in self.pool]))
        else:
            self.vectors = None
        if self.vectors is not None and self.vectors.shape[0] != len(self.pool):
            raise ValueError(f"{self.vectors.shape[0]} vectors for {len(self.pool)} posts")
        self.texts = [normalise(p.text) for p in self.pool]

    def __len__(self) -> int:
        return len(self.pool)

    def embed(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = unit(self.embedder.embed([text]))[0]
        return vector

    def shots(self, text: str, relation: Relation, k: int,
              vector: npt.NDArray[np.float32] | None = None) -> list[tuple[str, str]]:
        """Up to ``k`` (text, kept tail of ``relation``) of the most similar other posts."""
        if self.vectors is None or k <= 0:
            return []
        query = vector if vector is not None else self.embed(text)
        similarity = self.vectors @ query
        own = normalise(text)
        found: list[tuple[str, str]] = []
        for i in np.argsort(-similarity, kind="stable"):
            post = self.pool[int(i)]
            if self.texts[int(i)] == own or relation not in post.tails:
                continue
            found.append((post.text, post.tails[relation]))
            if len(found) == k:
                break
        return found[::-1]  # the most similar last, nearest to the question
