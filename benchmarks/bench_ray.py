"""`miko build --engine ray` against the single-process engine: posts/s with 1 and 2 Ray workers
and one process, over the OpenAI-compatible double of tests/llm_double.py (its own process on
loopback), with 200 ms of latency per answer and with none.

Every run starts with an empty stage cache (two model calls a post, no images), the same
MIKO_LLM_CONCURRENCY per process (8: with 200 ms answers one process is bound to
8 / (2 x 0.2 s) = 20 posts/s). Ray starts once, before the timed runs (its start is printed
apart); each timed Ray run includes starting its actors and staging the input.

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
from kg_builder.generation.build import run_build  # noqa: E402
from kg_builder.generation.ray_engine import RayOptions, run_build_ray  # noqa: E402
from kg_builder.loading.readers import MikoReader  # noqa: E402

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
    print(f"{'latency':>8}  {'engine':<22}{'seconds':>9}{'posts/s':>9}{'vs one process':>16}")
    results: dict[str, object] = {"machine": machine(), "git": git_rev(), "posts": args.posts,
                                  "ray_start_s": round(ray_start, 2)}
    for latency in (0.2, 0.0):
        server, url = start_double(latency)
        try:
            single = 0.0
            for engine, workers in (("one process", 0), ("ray, 1 worker", 1),
                                    ("ray, 2 workers", 2)):
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
                    else:
                        summary = run_build_ray(settings, inp, "jsonl", None, out, True, False,
                                                RayOptions(workers=workers, batch_size=16),
                                                notify=lambda _line: None)
                    wall = time.perf_counter() - t0
                    assert summary.built == args.posts and summary.cache_hits == 0, \
                        summary.as_dict()
                rate = args.posts / wall
                single = single or rate
                print(f"{latency * 1000:>6.0f}ms  {engine:<22}{wall:>9.1f}{rate:>9.1f}"
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
