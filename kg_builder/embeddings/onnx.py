"""A faster embedder for short texts: the same model exported to ONNX, run by ONNX Runtime.

The export is made once from the local sentence-transformers folder (no download) and kept in
``CACHE_DIR/onnx/``; mean pooling and L2 normalisation follow the model's sentence-transformers
configuration. ``agreement`` checks that its vectors match the torch model's before it is used.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kg_builder.core.errors import EmbeddingModelError
from kg_builder.embeddings.base import (
    Embedder,
    NamedEmbedder,
    Vectors,
    canonical_model_name,
    resolve_model_path,
)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _export(model_dir: str, target: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    class Wrapped(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = tok(["an example sentence"], return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with warnings.catch_warnings():
        # The TorchScript exporter (chosen on purpose: dynamo=False) warns that it is legacy, that
        # tracing meets shape-dependent branches and how it lowers indexing. The export is
        # checked against torch (``agreement``) before it is ever used.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapped(model), tuple(sample[k] for k in INPUTS), str(tmp), input_names=list(INPUTS),
            output_names=["last_hidden_state"], opset_version=17, dynamo=False,
            dynamic_axes={k: {0: "batch", 1: "seq"} for k in (*INPUTS, "last_hidden_state")},
        )
    tmp.rename(target)


class OnnxEmbedder(NamedEmbedder):
    """Mean-pooled, normalised sentence embeddings from an ONNX export of the model."""

    def __init__(self, model: str, cache_dir: Path, threads: int = 1, max_length: int = 256) -> None:
        model_dir = resolve_model_path(model)
        config = Path(model_dir) / "1_Pooling" / "config.json"
        if config.exists():
            pooling = json.loads(config.read_text())
            if not pooling.get("pooling_mode_mean_tokens", False):
                raise EmbeddingModelError(f"{model}: only mean pooling is supported by the ONNX path")
        digest = hashlib.sha256()
        for f in sorted(Path(model_dir).glob("*.safetensors")) + sorted(Path(model_dir).glob("*.bin")):
            digest.update(f"{f.name}:{f.stat().st_size}".encode())
        target = cache_dir / "onnx" / f"{Path(model_dir).name}-{digest.hexdigest()[:12]}.onnx"
        if not target.exists():
            _export(model_dir, target)
        import onnxruntime as ort
        from transformers import AutoTokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if threads > 1:
            # idle threads sleep instead of spinning: the cores are shared with Neo4j and Python
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
        self._tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._max_length = max_length
        self._name = canonical_model_name(model)
        self._dim = int(self.embed(["probe"]).shape[1])
        self.path = target

    def embed(self, texts: Sequence[str]) -> Vectors:
        enc = self._tokenizer(list(texts), return_tensors="np", padding=True, truncation=True,
                              max_length=self._max_length)
        feed = {k: enc[k].astype(np.int64) for k in INPUTS if k in self._inputs}
        hidden = self._session.run(None, feed)[0]
        mask = enc["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)


PROBE_TEXTS = (
    "share excitement about a concert",
    "After posting this Tweet, the user wants to inform followers about the festival.",
    "feel proud of an achievement",
    "Lost my keys again #mondays",
    "a rainy day in the city with friends and coffee",
)


def agreement(a: Embedder, b: Embedder, texts: Sequence[str] = PROBE_TEXTS) -> float:
    """The smallest cosine between two embedders' vectors for the same texts."""
    return float((a.embed(list(texts)) * b.embed(list(texts))).sum(axis=1).min())
