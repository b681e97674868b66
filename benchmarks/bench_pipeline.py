"""Generation throughput: posts/s and client CPU per post through the stages (key information
and intentions; no images), against the OpenAI-compatible double of tests/llm_double.py run in
its own process on loopback, with 0 and 200 ms of added latency, at 64 and 256 requests in flight.

Each configuration starts with an empty stage cache, so every post costs two model calls.
The server-bound limit at 200 ms is in_flight / (2 x 0.2 s) posts/s.

    python benchmarks/bench_pipeline.py [--posts 2000]   (after `source scripts/env.sh`)
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import dump, machine  # noqa: E402
from kg_builder.core.models import PostRecord  # noqa: E402
from kg_builder.core.settings import Settings  # noqa: E402
from kg_builder.generation.build import build_pipeline  # noqa: E402
from kg_builder.inputs.readers import MikoReader  # noqa: E402

SERVER = """
import sys, uvicorn
sys.path.insert(0, {root!r})
from tests.llm_double import Faults, create_double
uvicorn.run(create_double(Faults(latency_s={latency})), host="127.0.0.1", port={port},
            log_level="critical", backlog=4096)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_double(latency: float) -> tuple[subprocess.Popen[bytes], str]:
    """The test double in its own process on a free loopback port, answering after ``latency``
    seconds; (the process, its /v1 URL) once it answers."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(
        root=str(ROOT), latency=latency, port=port)])
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(100):
        try:
            httpx.get(f"{url}/models", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return server, url


def cpu_seconds() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


async def run(posts: list[PostRecord], url: str, in_flight: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(llm_base_url=url, llm_model="double", llm_api_key=SecretStr("bench"),
                            llm_concurrency=in_flight, llm_timeout_s=60)
        run = build_pipeline(settings, Path(tmp))
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        summary = await run.pipeline.build(posts, Path(tmp) / "run.jsonl", Path(tmp) / "dead.jsonl",
                                           run.clients, in_flight=in_flight * 2, progress=False)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        await run.aclose()
        assert summary.built == len(posts), summary.as_dict()
        return wall, cpu, sum(c.usage.calls for c in run.clients)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/pipeline.json"))
    args = ap.parse_args()
    base = [r for r in MikoReader(Settings().data_dir / "miko") if isinstance(r, PostRecord)]
    posts = [base[i % len(base)].model_copy(update={
        "id": f"{base[i % len(base)].id}#{i}", "text": f"{base[i % len(base)].text} #{i}",
        "intentions": []}) for i in range(args.posts)]
    print(f"machine: {machine()}; {len(posts)} posts, 2 model calls each")
    print(f"{'latency':>8}{'in flight':>10}{'posts/s':>9}{'calls/s':>9}{'client CPU/post':>17}"
          f"{'server-bound limit':>20}")
    results = {}
    for latency in (0.0, 0.2):
        server, url = start_double(latency)
        try:
            for in_flight in (64, 256):
                wall, cpu, calls = asyncio.run(run(posts, url, in_flight))
                limit = f"{in_flight / (2 * latency):.0f} posts/s" if latency else "-"
                print(f"{latency * 1000:>6.0f}ms{in_flight:>10}{len(posts) / wall:>9.0f}"
                      f"{calls / wall:>9.0f}{cpu / len(posts) * 1000:>14.2f} ms{limit:>20}")
                results[f"latency {latency}s, {in_flight} in flight"] = {
                    "posts_per_s": round(len(posts) / wall, 1),
                    "client_cpu_ms_per_post": round(cpu / len(posts) * 1000, 2)}
        finally:
            server.terminate()
            server.wait(10)
    dump(args.out, results)


if __name__ == "__main__":
    main()
