"""The typicality critic: how likely annotators would keep an intention for its post.

Trained on the MIKO labels (1 kept as typical, 0 not), it scores an edge from the vectors the
graph already holds — the post's text embedding, the intention tail's embedding — and the
relation, so scoring a loaded graph needs no model inference. The model is a standardised
logistic regression; it is saved as plain JSON (weights, never a pickle), with its name, a
version derived from its weights, the embedding model it expects and its measured quality.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kg_builder.core.errors import KGBuilderError
from kg_builder.core.relations import Relation

FloatArray = npt.NDArray[np.float64]
RELATIONS = list(Relation)
CRITIC_NAME = "typicality-logreg"
FEATURE_SETS = ("relation", "tail", "post+tail", "post+tail+product")


class CriticError(KGBuilderError):
    """A critic file that cannot be used (missing, malformed, for another embedding model)."""


def features(post: npt.ArrayLike, tail: npt.ArrayLike, relations: Sequence[Relation | str],
             feature_set: str = "post+tail+product") -> FloatArray:
    """The critic's input: embeddings (and their product and cosine) plus the relation."""
    p = np.asarray(post, dtype=np.float64)
    t = np.asarray(tail, dtype=np.float64)
    onehot = np.zeros((len(relations), len(RELATIONS)))
    for row, rel in enumerate(relations):
        onehot[row, RELATIONS.index(Relation(rel))] = 1.0
    if feature_set == "relation":
        return onehot
    cos = np.sum(p * t, axis=1, keepdims=True)
    parts: list[FloatArray] = [onehot, cos]
    if feature_set == "tail":
        parts.append(t)
    elif feature_set == "post+tail":
        parts += [p, t]
    elif feature_set == "post+tail+product":
        parts += [p, t, p * t]
    else:
        raise ValueError(f"unknown feature set {feature_set!r}; one of {FEATURE_SETS}")
    return np.hstack(parts)


@dataclass
class Critic:
    embedding_model: str
    dimension: int
    feature_set: str
    coef: FloatArray
    intercept: float
    mean: FloatArray
    scale: FloatArray
    metrics: dict[str, Any] = field(default_factory=dict)
    name: str = CRITIC_NAME

    @property
    def version(self) -> str:
        digest = hashlib.sha256()
        for arr in (self.coef, self.mean, self.scale):
            digest.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        digest.update(f"{self.intercept!r}{self.feature_set}{self.embedding_model}".encode())
        return digest.hexdigest()[:12]

    def score(self, post: npt.ArrayLike, tail: npt.ArrayLike,
              relations: Sequence[Relation | str]) -> FloatArray:
        """Probability (0-1) that annotators keep each intention as typical."""
        if not len(relations):
            return np.zeros(0)
        x = (features(post, tail, relations, self.feature_set) - self.mean) / self.scale
        z = x @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))), dtype=np.float64)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"name": self.name, "version": self.version,
                "embedding_model": self.embedding_model, "dimension": self.dimension,
                "feature_set": self.feature_set, "intercept": self.intercept,
                "coef": self.coef.tolist(), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "metrics": self.metrics}
        path.write_text(json.dumps(data) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Critic:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            critic = cls(
                embedding_model=str(data["embedding_model"]), dimension=int(data["dimension"]),
                feature_set=str(data["feature_set"]), coef=np.asarray(data["coef"], float),
                intercept=float(data["intercept"]), mean=np.asarray(data["mean"], float),
                scale=np.asarray(data["scale"], float), metrics=dict(data.get("metrics", {})),
                name=str(data.get("name", CRITIC_NAME)))
        except FileNotFoundError as exc:
            raise CriticError(f"{path}: no such critic file; train one with `miko critic "
                              "train --out FILE` or unset MIKO_CRITIC") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CriticError(f"{path}: not a miko critic file ({exc}); train one with "
                              "`miko critic train --out FILE`") from exc
        width = features(np.zeros((1, critic.dimension)), np.zeros((1, critic.dimension)),
                         [RELATIONS[0]], critic.feature_set).shape[1]
        if not (critic.coef.shape == critic.mean.shape == critic.scale.shape == (width,)):
            raise CriticError(f"{path}: weights do not fit feature set {critic.feature_set!r} "
                              f"of dimension {critic.dimension}")
        if data.get("version") not in (None, critic.version):
            raise CriticError(f"{path}: its weights do not match its recorded version (edited "
                              "or damaged); train it again")
        return critic

    def check_model(self, model_name: str, dimension: int) -> None:
        if (model_name, dimension) != (self.embedding_model, self.dimension):
            raise CriticError(
                f"the critic expects {self.embedding_model} vectors ({self.dimension}-d) but the "
                f"graph holds {model_name} ({dimension}-d); train a critic with that model "
                "(`miko critic train`) or disable it (MIKO_CRITIC_ENABLED=false)")


def packaged_critic_path() -> Path:
    from kg_builder.core.resources import CRITIC_FILE

    return CRITIC_FILE


def load_critic(path: Path | None) -> Critic:
    """The critic at ``path``, or the one shipped in the package."""
    return Critic.load(path or packaged_critic_path())
