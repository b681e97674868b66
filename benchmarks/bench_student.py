"""Student training speed: tokens/s, seconds a step and minutes an epoch of `miko student train`.

Trains for ``--steps`` optimiser steps (default settings otherwise: rank 16 on every projection,
batch 4, 2 shots) on MIKO's train.json, on CPU (or torch's GPU when present), and prints the
trained tokens per second (prompt and target tokens through the model), the time a step, and
the epoch and full-run estimates for the whole training split.

  ./scripts/bench.sh -m benchmarks.bench_student [--steps 40] [--references PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import dump, git_rev, machine
from kg_builder.core.settings import Settings
from kg_builder.student.service import train_student
from kg_builder.student.training import TrainSettings

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--references", type=Path)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    settings = Settings()
    references = args.references or settings.data_dir / "miko" / "train.json"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "student"
        started = time.perf_counter()
        manifest = train_student(settings, references, out, None, TrainSettings(
            max_steps=args.steps, batch_size=args.batch_size, eval_every=None), None)
        wall = time.perf_counter() - started
    from transformers import AutoTokenizer

    from kg_builder.student.training import packaged_base

    base = packaged_base()
    tokenizer = AutoTokenizer.from_pretrained(str(base.parent), gguf_file=base.name)
    seconds = manifest["train_seconds"]
    examples = manifest["data"]["train_examples"]
    steps_per_epoch = -(-examples // args.batch_size)
    # tokens of an average example: measured on the prompts themselves
    from kg_builder.embeddings import load_embedder
    from kg_builder.inputs.readers import MikoReader
    from kg_builder.student.examples import build_examples, kept_posts

    data = build_examples(kept_posts(MikoReader(references), []), load_embedder(settings),
                          zero_shot_fraction=TrainSettings().zero_shot_fraction)
    sample = data.train[:200]
    mean_tokens = sum(len(tokenizer(e.prompt + e.target)["input_ids"]) for e in sample) / len(sample)
    per_step = seconds / manifest["steps"]
    result = {
        "machine": machine(), "git": git_rev(), "device": manifest["device"],
        "steps": manifest["steps"], "batch_size": args.batch_size,
        "train_seconds": seconds, "wall_seconds": round(wall, 1),
        "seconds_per_step": round(per_step, 3),
        "tokens_per_second": manifest["tokens_per_second"],
        "mean_tokens_per_example": round(mean_tokens, 1), "train_examples": examples,
        "minutes_per_epoch": round(per_step * steps_per_epoch / 60, 1),
    }
    print(json.dumps(result, indent=2))
    dump(ROOT / "benchmarks" / "results" / "student.json", result)


if __name__ == "__main__":
    main()
