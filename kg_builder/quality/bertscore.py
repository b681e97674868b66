"""BERTScore (Zhang et al., ICLR 2020) over any local transformers model, offline.

The algorithm of the reference implementation (``bert-score``): each sentence's token vectors
from one layer of the backbone, L2-normalised; precision is the mean over candidate tokens of
their best cosine with a reference token, recall the mean over reference tokens of their best
cosine with a candidate token, F1 their harmonic mean; the [CLS] and [SEP] tokens take part in
the matching but not in the means; no idf weighting and no baseline rescaling (``bert-score``'s
defaults). Why not the package
itself: its last release (0.3.13, 2023) crashes on an empty candidate with transformers 5, knows
layer counts only for hub model names, and pulls pandas and matplotlib into the install; the
dev suite checks this module against it where it is installed.

Empty or missing candidates score 0 and are counted by the caller.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kg_builder.core.errors import EmbeddingModelError
from kg_builder.embeddings.base import canonical_model_name, resolve_model_path

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Scores:
    precision: npt.NDArray[np.float64]
    recall: npt.NDArray[np.float64]
    f1: npt.NDArray[np.float64]


class BERTScorer:
    """Token vectors of a local backbone; ``score`` compares candidate/reference pairs."""

    def __init__(self, model: str, layer: int | None = None, device: str = "cpu",
                 batch_size: int = 64, max_tokens: int = 128) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = resolve_model_path(model)
        if not Path(path).exists():
            raise EmbeddingModelError(
                f"BERTScore backbone {model!r} is not a local folder or the packaged model; set "
                "MIKO_EVAL_BACKBONE (or --backbone) to a local transformers model folder")
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            self._torch: Any = torch
            self._tokenizer: Any = AutoTokenizer.from_pretrained(path)
            self._model: Any = AutoModel.from_pretrained(path).to(device).eval()
        except Exception as exc:
            raise EmbeddingModelError(f"cannot load BERTScore backbone {model!r} from {path}: "
                                      f"{exc}") from exc
        n_layers = int(self._model.config.num_hidden_layers)
        self.layer = n_layers if layer is None else layer
        if not 1 <= self.layer <= n_layers:
            raise EmbeddingModelError(f"layer {self.layer} out of range: {model!r} has "
                                      f"{n_layers} layers")
        self.name = f"{canonical_model_name(model)} (layer {self.layer})"
        self.device = device
        self.batch_size = batch_size
        self.max_tokens = max_tokens

    def token_vectors(self, sentences: Sequence[str]) -> list[tuple[Matrix, Matrix]]:
        """Each sentence's normalised token vectors (padding removed) and its tokens' weights:
        1, except 0 for the sentence markers ([CLS], [SEP]), which are matched against but
        not averaged over, as in ``bert-score``."""
        empty = (np.zeros((0, 1), dtype=np.float32), np.zeros(0, dtype=np.float32))
        out: list[tuple[Matrix, Matrix]] = [empty] * len(sentences)
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        markers = [i for i in (self._tokenizer.cls_token_id, self._tokenizer.sep_token_id,
                               self._tokenizer.bos_token_id, self._tokenizer.eos_token_id)
                   if i is not None]
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self._tokenizer([sentences[i].strip() for i in idx], padding=True,
                                    truncation=True, max_length=self.max_tokens,
                                    return_tensors="pt")
            with self._torch.no_grad():
                hidden = self._model(**batch.to(self.device), output_hidden_states=True
                                     ).hidden_states[self.layer]
            hidden = self._torch.nn.functional.normalize(hidden, dim=-1).cpu().numpy()
            ids = batch["input_ids"].cpu().numpy()
            mask = batch["attention_mask"].cpu().numpy().astype(bool)
            for row, i in enumerate(idx):
                weights = (~np.isin(ids[row][mask[row]], markers)).astype(np.float32)
                out[i] = (np.ascontiguousarray(hidden[row][mask[row]], dtype=np.float32), weights)
        return out

    def score(self, candidates: Sequence[str], references: Sequence[str]) -> Scores:
        """P, R and F1 (0-1) of each candidate against its reference; empty pairs score 0."""
        if len(candidates) != len(references):
            raise ValueError("candidates and references differ in length")
        unique = sorted({*candidates, *references})
        vectors = dict(zip(unique, self.token_vectors(unique), strict=True))
        n = len(candidates)
        p, r, f = np.zeros(n), np.zeros(n), np.zeros(n)
        for k, (cand, ref) in enumerate(zip(candidates, references, strict=True)):
            (c, wc), (rf, wr) = vectors[cand], vectors[ref]
            if not cand.strip() or not ref.strip() or not wc.sum() or not wr.sum():
                continue
            sim = c @ rf.T
            p[k] = float(sim.max(axis=1) @ wc / wc.sum())
            r[k] = float(sim.max(axis=0) @ wr / wr.sum())
            f[k] = 2 * p[k] * r[k] / (p[k] + r[k]) if p[k] + r[k] > 0 else 0.0
        return Scores(p, r, f)
