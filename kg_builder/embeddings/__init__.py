"""Sentence embeddings: the ``Embedder`` protocol, the torch and ONNX embedders, and the factories
that build them from the settings (one place, used by the CLI, the API, benchmarks and tests)."""

from __future__ import annotations

import logging

from kg_builder.core.errors import EmbeddingModelError
from kg_builder.core.settings import Settings
from kg_builder.embeddings.base import Embedder, Vectors
from kg_builder.embeddings.sentence_transformer import SentenceTransformerEmbedder

log = logging.getLogger("kg_builder.embeddings")

# Below this cosine between the ONNX export's vectors and torch's, the export is not used.
MIN_ONNX_AGREEMENT = 0.99


def load_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The configured sentence-transformers model (for loading and re-embedding)."""
    return SentenceTransformerEmbedder(settings.embedding_model, device=settings.embedding_device,
                                       batch_size=settings.embedding_batch_size)


def load_query_embedder(settings: Settings) -> Embedder:
    """The embedder for one query text at a time (MIKO_API_QUERY_EMBEDDER).

    ``auto`` uses the fp32 ONNX Runtime export when its vectors agree with torch's (cosine >=
    0.99), else torch; ``onnx`` insists on the export; ``torch`` never tries it.
    """
    torch_model = load_embedder(settings)
    choice = settings.api_query_embedder
    if choice == "torch":
        return torch_model
    try:
        from kg_builder.embeddings.onnx import OnnxEmbedder, agreement

        onnx_model = OnnxEmbedder(settings.embedding_model, settings.cache_dir,
                                  threads=settings.api_query_embed_threads)
        cosine = agreement(onnx_model, torch_model)
    except Exception as exc:
        if choice == "onnx":
            raise
        log.warning("ONNX query embedder unavailable (%s); using torch", exc)
        return torch_model
    if cosine < MIN_ONNX_AGREEMENT:
        if choice == "onnx":
            raise EmbeddingModelError(
                f"the ONNX export agrees with the model only to cosine {cosine:.4f} "
                f"(< {MIN_ONNX_AGREEMENT}); set MIKO_API_QUERY_EMBEDDER=torch or auto")
        log.warning("ONNX query embedder agrees only to cosine %.4f; using torch", cosine)
        return torch_model
    log.info("query embedder: ONNX Runtime (agreement with torch: cosine %.5f)", cosine)
    return onnx_model


__all__ = ["Embedder", "SentenceTransformerEmbedder", "Vectors", "load_embedder",
           "load_query_embedder"]
