"""Sentence embeddings with sentence-transformers, loaded offline from a packaged model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kg_builder.core.errors import EmbeddingModelError
from kg_builder.embeddings.base import NamedEmbedder, Vectors, canonical_model_name, resolve_model_path


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
