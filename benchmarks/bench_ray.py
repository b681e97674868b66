"""`miko build --engine ray` against the single-process engine: posts/s with 1 and 2 Ray workers
and one process, over the OpenAI-compatible double of tests/llm_double.py (its own process on
loopback), with 200 ms of latency per answer and with none.

Every run starts with an empty stage cache (two model calls a post, no images), the same
MIKO_LLM_CONCURRENCY per process (8: with 200 ms answers one process is bound to
8 / (2 x 0.2 s) = 20 posts/s). Ray starts once, before the timed runs (its start is printed
apart); each timed Ray run includes starting its actors and staging the input. The rows
"stages only" run no embedding stage (MIKO_RAY_EMBED_WORKERS=0); the rows "+ embedding" add
what the load would otherwise embed (each post's text and its intentions' tails, with
all-MiniLM-L6-v2 on the CPU): after the build in one process (timed: the model's load and the
embedding of the distinct texts, as `miko load` does), as a Ray stage on one embedding actor
(`<out>.run/vectors.sqlite`, started empty) while the stages run.

    ./scripts/bench.sh benchmarks/bench_ray.py [--posts 400]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_pipeline import start_double  # noqa: E402
from benchmarks.common import dump, git_rev, machine  # noqa: E402
from kg_builder.core.models import PostRecord  # noqa: E402
from kg_builder.core.settings import Settings  # noqa: E402
from kg_builder.embeddings import load_embedder  # noqa: E402
from kg_builder.generation.build import run_build  # noqa: E402
from kg_builder.generation.ray_engine import RayOptions, run_build_ray  # noqa: E402
from kg_builder.inputs.readers import MikoReader  # noqa: E402

CONCURRENCY = 8


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=400)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/ray.json"))
    args = ap.parse_args()
    import ray

    base = [r for r in MikoReader(Settings().data_dir / "miko") if isinstance(r, PostRecord)]
    started = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
             configure_logging=False)
    ray_start = time.perf_counter() - started
    print(f"machine: {machine()}; git {git_rev()}; {args.posts} posts, 2 model calls each, "
          f"{CONCURRENCY} requests in flight per process; Ray started in {ray_start:.1f}s")
    print(f"{'latency':>8}  {'engine':<28}{'seconds':>9}{'posts/s':>9}{'vs one process':>16}")
    results: dict[str, object] = {"machine": machine(), "git": git_rev(), "posts": args.posts,
                                  "ray_start_s": round(ray_start, 2)}
    for latency in (0.2, 0.0):
        server, url = start_double(latency)
        try:
            single = 0.0
            for engine, workers, embed in (
                    ("one process", 0, False), ("ray, 1 worker", 1, False),
                    ("ray, 2 workers", 2, False), ("one process + embedding", 0, True),
                    ("ray, 2 workers + embedding", 2, True)):
                with tempfile.TemporaryDirectory() as tmp:
                    inp = Path(tmp) / "posts.jsonl"
                    inp.write_text("".join(json.dumps({
                        "id": f"bench:{i}", "text": f"{base[i % len(base)].text} #{i}"}) + "\n"
                        for i in range(args.posts)))
                    settings = Settings(llm_base_url=url, llm_model="double",
                                        llm_api_key=SecretStr("bench"),
                                        llm_concurrency=CONCURRENCY, llm_timeout_s=60)
                    out = Path(tmp) / "run.jsonl"
                    t0 = time.perf_counter()
                    if workers == 0:
                        summary = run_build(settings, inp, "jsonl", None, out, progress=False,
                                            notify=lambda _line: None)
                        if embed:  # what `miko load` would spend embedding them
                            records = [PostRecord.model_validate_json(line)
                                       for line in out.read_text().splitlines()]
                            texts = list(dict.fromkeys(
                                [r.text for r in records] +
                                [i.tail for r in records for i in r.intentions]))
                            load_embedder(settings).embed(texts)
                    else:
                        summary = run_build_ray(
                            settings, inp, "jsonl", None, out, True, False,
                            RayOptions(workers=workers, batch_size=16,
                                       embed_workers=1 if embed else 0),
                            notify=lambda _line: None)
                        if embed:
                            vectors = summary.usage["vectors"]
                            assert vectors["found"] == 0 and vectors["embedded"] > 0, vectors
                    wall = time.perf_counter() - t0
                    assert summary.built == args.posts and summary.cache_hits == 0, \
                        summary.as_dict()
                rate = args.posts / wall
                single = single if single and not (embed and workers == 0) else rate
                print(f"{latency * 1000:>6.0f}ms  {engine:<28}{wall:>9.1f}{rate:>9.1f}"
                      f"{rate / single:>15.2f}x")
                results[f"latency {latency}s, {engine}"] = {
                    "seconds": round(wall, 2), "posts_per_s": round(rate, 2),
                    "vs_one_process": round(rate / single, 2)}
        finally:
            server.terminate()
            server.wait(10)
    ray.shutdown()
    dump(args.out, results)


if __name__ == "__main__":
    main()
