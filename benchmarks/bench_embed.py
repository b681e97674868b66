"""Embedding throughput on this machine: sentence-transformers (torch, fp32) and the ONNX export.

Embeds the distinct intention tails of the MIKO release (what the loader embeds), in batches,
and single query texts (what the API embeds), and checks that the ONNX vectors agree with
torch's (minimum cosine).

    ./scripts/env.sh-activated: python benchmarks/bench_embed.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import dump, machine
from kg_builder.core.models import PostRecord
from kg_builder.core.settings import Settings
from kg_builder.embeddings import SentenceTransformerEmbedder
from kg_builder.embeddings.onnx import OnnxEmbedder
from kg_builder.inputs.readers import MikoReader


def main() -> None:
    settings = Settings()
    posts = [r for r in MikoReader(settings.data_dir / "miko") if isinstance(r, PostRecord)]
    tails = sorted({i.tail for p in posts for i in p.intentions})
    queries = [p.text for p in posts][:200]
    torch_model = SentenceTransformerEmbedder(settings.embedding_model, batch_size=64)
    results: dict[str, float] = {}
    print(f"machine: {machine()}; {len(tails)} distinct tails, {len(queries)} single queries")
    for name, model in (("torch fp32", torch_model),
                        ("onnx fp32 (2 threads)", OnnxEmbedder(settings.embedding_model,
                                                               settings.cache_dir, threads=2)),
                        ("onnx fp32 (1 thread)", OnnxEmbedder(settings.embedding_model,
                                                              settings.cache_dir, threads=1))):
        model.embed(tails[:64])
        t = time.perf_counter()
        batches = [model.embed(tails[i:i + 64]) for i in range(0, len(tails), 64)]
        rate = len(tails) / (time.perf_counter() - t)
        vectors = np.concatenate(batches)
        t = time.perf_counter()
        for q in queries:
            model.embed([q])
        single_ms = (time.perf_counter() - t) / len(queries) * 1000
        cos = float((vectors * torch_model.embed(tails[:len(vectors)])).sum(axis=1).min()) \
            if model is not torch_model else 1.0
        print(f"{name:<24} {rate:7.0f} sentences/s (batches of 64)   one query {single_ms:5.1f} ms"
              f"   min cosine vs torch {cos:.5f}")
        results[f"{name} sentences/s"] = round(rate)
        results[f"{name} single ms"] = round(single_ms, 2)
        results[f"{name} min cosine"] = round(cos, 5)
    dump(Path("benchmarks/results/embed.json"), results)


if __name__ == "__main__":
    main()
