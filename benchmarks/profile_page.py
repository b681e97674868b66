"""Where a page request's CPU goes in the API process: the page query of bench_api.py (50 posts
with their intentions), served in-process (httpx over ASGI, one event loop, so cProfile sees
all of it) against the scratch server's graph, with cProfile's time per package.

    ./scripts/bench.sh benchmarks/profile_page.py [--requests 300]

Prints the API process's CPU per request, and the share of its profiled time spent in each
package (own time of the functions, grouped by the package they live in): the Neo4j driver's
decoding, graphql-core and strawberry's execution, our resolvers and rows, JSON, asyncio. Neo4j's
own CPU is not in it (bench_api.py prints that).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import random
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_api import OURS_PAGE  # noqa: E402
from benchmarks.common import git_rev, machine  # noqa: E402
from kg_api.app import create_app  # noqa: E402
from kg_builder.core.settings import Settings  # noqa: E402

GROUPS = (("neo4j", "Neo4j driver (Bolt, decoding)"), ("graphql", "graphql-core (execution)"),
          ("strawberry", "strawberry"), ("kg_api", "miko API (resolvers, rows, limits)"),
          ("kg_builder", "miko core (rows, queries)"), ("json", "json"), ("asyncio", "asyncio"),
          ("starlette", "starlette"), ("httpx", "httpx (the client)"),
          ("h11", "h11/httpcore (the client)"), ("httpcore", "h11/httpcore (the client)"))


def group_of(filename: str) -> str:
    parts = Path(filename).parts
    for key, name in GROUPS:
        if key in parts or any(p.startswith(key + ".") for p in parts):
            return name
    return "other (stdlib, builtins)"


async def run(requests: int) -> tuple[float, float, pstats.Stats]:
    app = create_app(Settings(api_graphiql=False))
    rng = random.Random(7)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            first = await client.post("/graphql", json={"query": OURS_PAGE,
                                                         "variables": {"after": None}})
            assert first.status_code == 200 and "errors" not in first.json(), first.text
            ends = [e["node"]["id"] for e in first.json()["data"]["posts"]["edges"]]
            for _ in range(20):  # warm-up
                await client.post("/graphql", json={"query": OURS_PAGE, "variables": {"after": None}})
            profile = cProfile.Profile()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            profile.enable()
            for _ in range(requests):
                after = rng.choice([None, *ends]) if ends else None
                cursor = base64.urlsafe_b64encode(f"c:{after}".encode()).decode() if after else None
                r = await client.post("/graphql", json={"query": OURS_PAGE,
                                                        "variables": {"after": cursor}})
                assert r.status_code == 200
            profile.disable()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu, wall, pstats.Stats(profile)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()
    if os.environ.get("MIKO_BENCH_SCRATCH_GRAPH") != "1":
        sys.exit("run it through scripts/bench.sh (scratch server, the MIKO graph loaded)")
    cpu, wall, stats = asyncio.run(run(args.requests))
    own: Counter[str] = Counter()
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        own[group_of(filename)] += tottime
    total = sum(own.values())
    print(f"machine: {machine()}; git {git_rev()}; {args.requests} page requests in-process, "
          f"one at a time")
    print(f"process CPU {1000 * cpu / args.requests:.1f} ms a request (client included; "
          f"cProfile's overhead included), wall {1000 * wall / args.requests:.1f} ms")
    print(f"{'package':<40}{'share of profiled time':>24}")
    for name, seconds in own.most_common():
        print(f"{name:<40}{100 * seconds / total:>23.1f}%")
    print("\nthe 15 functions with the most own time:")
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
