"""The API under hostile and bursty clients, on a real port (`miko serve`, default settings).

- fragment bombs (each fragment spreads the next twice) and chains of fragments: the answer's
  latency, and `/healthz`'s latency measured meanwhile from another connection;
- a burst of 200 trivial queries at once from one client: every status, and latency p50/p99;
- 16, then 48 costly queries (cost 20,400 each, distinct search texts so no embedding is cached)
  with 64 trivial ones at once: the statuses of each class, the trivial ones' p99.

Run against a loaded graph: ./scripts/bench.sh benchmarks/bench_api_hostile.py [--port 8123]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import dump, git_rev, machine

ROOT = Path(__file__).resolve().parents[1]


def bomb(levels: int) -> str:
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(1, levels)]
    fragments.append(f"fragment F{levels} on Query {{ relationStats {{ edges }} }}")
    return "query { ...F1 } " + " ".join(fragments)


def chain(length: int) -> str:
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(length)]
    return ("query { ...F0 } " + " ".join(fragments)
            + f" fragment F{length} on Query {{ relationStats {{ edges }} }}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_ready(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} never became ready")


def hostile_documents(base: str, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, query in (("bomb 18 levels", bomb(18)), ("bomb 24 levels", bomb(24)),
                        ("bomb 30 levels", bomb(30)), ("chain of 245", chain(245)),
                        ("chain of 1,000", chain(1_000))):
        health: list[float] = []
        stop = threading.Event()

        def probe(health: list[float] = health, stop: threading.Event = stop) -> None:
            with httpx.Client(timeout=10) as client:
                while not stop.is_set():
                    started = time.perf_counter()
                    client.get(f"{base}/healthz")
                    health.append(time.perf_counter() - started)

        thread = threading.Thread(target=probe)
        thread.start()
        times, answers = [], Counter[str]()
        with httpx.Client(timeout=60) as client:
            for _ in range(runs):
                started = time.perf_counter()
                body = client.post(f"{base}/graphql", json={"query": query}).json()
                times.append(time.perf_counter() - started)
                answers[body["errors"][0]["extensions"]["code"] if "errors" in body else "ok"] += 1
        stop.set()
        thread.join()
        out[name] = {"chars": len(query), "answers": dict(answers),
                     "p50_ms": statistics.median(times) * 1e3, "max_ms": max(times) * 1e3,
                     "healthz_p50_ms": statistics.median(health) * 1e3,
                     "healthz_max_ms": max(health) * 1e3, "healthz_probes": len(health)}
        row = out[name]
        print(f"{name:16s} {row['chars']:6,} chars  {row['answers']}  p50 {row['p50_ms']:6.1f} ms  "
              f"max {row['max_ms']:6.1f} ms   /healthz meanwhile p50 {row['healthz_p50_ms']:5.1f} "
              f"ms max {row['healthz_max_ms']:5.1f} ms ({row['healthz_probes']} probes)")
    return out


async def at_once(url: str, bodies: list[dict[str, Any]]) -> list[tuple[int, float]]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def one(body: dict[str, Any]) -> tuple[int, float]:
            started = time.perf_counter()
            response = await client.post(url, json=body)
            return response.status_code, time.perf_counter() - started

        return list(await asyncio.gather(*(one(b) for b in bodies)))


def burst(url: str, rounds: int) -> dict[str, Any]:
    trivial = {"query": "{ posts(first: 1) { edges { node { id } } } }"}
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    for _ in range(rounds):
        for status, seconds in asyncio.run(at_once(url, [trivial] * 200)):
            statuses[status] += 1
            latencies.append(seconds)
    row = {"requests": len(latencies), "statuses": dict(statuses),
           "p50_ms": percentile(latencies, 0.5) * 1e3, "p99_ms": percentile(latencies, 0.99) * 1e3,
           "max_ms": max(latencies) * 1e3}
    print(f"burst of 200 x {rounds}: {row['statuses']}  p50 {row['p50_ms']:.0f} ms  "
          f"p99 {row['p99_ms']:.0f} ms  max {row['max_ms']:.0f} ms")
    return row


def mixed(url: str, costly: int) -> dict[str, Any]:
    heavy = [{"query": f"{{ searchPosts(text: \"bench heavy {n} {time.time()}\", k: 100) {{ post {{ "
                       "similarPosts(k: 100) { score } } } }"} for n in range(costly)]
    trivial = [{"query": "{ posts(first: 1) { edges { node { id } } } }"}] * 64
    answers = asyncio.run(at_once(url, heavy + trivial))
    heavy_statuses = Counter(s for s, _ in answers[:costly])
    trivial_statuses = Counter(s for s, _ in answers[costly:])
    trivial_times = [t for _, t in answers[costly:]]
    row = {"heavy": dict(heavy_statuses), "trivial": dict(trivial_statuses),
           "trivial_p99_ms": percentile(trivial_times, 0.99) * 1e3,
           "heavy_max_ms": max(t for _, t in answers[:costly]) * 1e3}
    print(f"{costly} costly + 64 trivial at once: costly {row['heavy']}, trivial {row['trivial']} "
          f"(trivial p99 {row['trivial_p99_ms']:.0f} ms; slowest costly "
          f"{row['heavy_max_ms']:.0f} ms)")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--runs", type=int, default=20, help="requests per hostile document")
    parser.add_argument("--rounds", type=int, default=3, help="bursts of 200")
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(args.port)],
                              cwd=ROOT, env={**os.environ, "MIKO_API_GRAPHIQL": "false"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"{base}/readyz")
        result: dict[str, Any] = {"machine": machine(), "git": git_rev()}
        print(result["machine"], "at", result["git"])
        result["hostile_documents"] = hostile_documents(base, args.runs)
        result["burst"] = burst(f"{base}/graphql", args.rounds)
        result["mixed"] = {n: mixed(f"{base}/graphql", n) for n in (16, 48)}
        dump(ROOT / "benchmarks" / "results" / "api_hostile.json", result)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
