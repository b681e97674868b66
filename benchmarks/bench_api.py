"""GraphQL latency and throughput: miko's API, and @neo4j/graphql as the peer, over one database.

Loads the MIKO benchmark into the scratch server (unless --no-load), starts `miko serve` and the
peer (Node.js, benchmarks/peer_neo4j_graphql) on loopback ports, and measures over HTTP, with 1
8 and 32 concurrent clients (``--clients``):
  - searchIntentions (global) and (relation-scoped), each request a distinct text (no cache hit),
    so the figures include embedding the query;
  - similarPosts of a random post;
  - a page of 50 posts with their intentions: ours (cursor) and the peer's (offset), same data.

Beside each figure, the CPU each request cost the API's processes (ours: `miko serve` and its
workers; the peer: its Node.js process) and Neo4j, from their /proc CPU times over the run (the
client's own CPU is not counted), in ms of CPU per request.

    ./scripts/bench.sh benchmarks/bench_api.py [--requests 300] [--no-load] [--clients 1,8,32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import dump, git_rev, machine  # noqa: E402
from kg_builder.core.models import PostRecord  # noqa: E402
from kg_builder.core.relations import Relation  # noqa: E402
from kg_builder.core.settings import Settings  # noqa: E402
from kg_builder.graph.server import Neo4jServer  # noqa: E402
from kg_builder.inputs.readers import MikoReader  # noqa: E402

OURS_PAGE = ("query($after: String) { posts(first: 50, after: $after) { edges { node { id text "
             "intentions { relation intention { tail } } } } } }")
PEER_FIELDS = " ".join(
    f"{''.join(p if i == 0 else p.capitalize() for i, p in enumerate(r.name.lower().split('_')))}"
    " { tail }" for r in Relation)
PEER_PAGE = ("query($offset: Int) { posts(limit: 50, offset: $offset, sort: [{id: ASC}]) "
             f"{{ id text {PEER_FIELDS} }} }}")
SEARCH = ("query($t: String!) { searchIntentions(text: $t, k: 10) { score intention { id relation "
          "tail } } }")
SEARCH_REL = ("query($t: String!, $r: Relation!) { searchIntentions(text: $t, relation: $r, k: 10) "
              "{ score intention { id tail } } }")
SIMILAR_POSTS = "query($id: ID!) { similarPosts(id: $id, k: 10) { score post { id text } } }"


def wait_ready(url: str, body: dict[str, Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.post(url, json=body, timeout=5)
            if r.status_code == 200 and "errors" not in r.json():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not become ready")


async def run_load(url: str, make: Callable[[int], dict[str, Any]], requests: int,
                   concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(requests))
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def worker() -> None:
            nonlocal errors
            for i in counter:
                body = make(i)
                t = time.perf_counter()
                r = await client.post(url, json=body)
                dt = time.perf_counter() - t
                if r.status_code != 200 or "errors" in r.json():
                    errors += 1
                latencies.append(dt)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "qps": len(latencies) / wall, "errors": errors, "n": len(latencies),
    }


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its living descendants (/proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _) in stats.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(stats[p][1] for p in tree if p in stats)


def distinct(texts: list[str], i: int, tag: str) -> str:
    """A search text no other request of the run uses, so no answer comes from the server's
    query-embedding cache (its hit rate is 0 by construction)."""
    return f"{texts[i % len(texts)]} ({tag}{i})"


def shifted(make: Callable[[int], dict[str, Any]], offset: int) -> Callable[[int], dict[str, Any]]:
    return lambda i: make(offset + i)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--no-load", action="store_true")
    ap.add_argument("--ours-port", type=int, default=8123)
    ap.add_argument("--peer-port", type=int, default=4123)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/api.json"))
    ap.add_argument("--only", default="", help="run only the workloads whose name contains this")
    ap.add_argument("--clients", default="1,8,32", help="concurrent clients, comma-separated")
    args = ap.parse_args()
    if os.environ.get("MIKO_BENCH_SCRATCH_GRAPH") != "1":
        sys.exit("run it through scripts/bench.sh (scratch server)")
    settings = Settings()
    env = dict(os.environ)
    if not args.no_load:
        subprocess.run(["bash", "-c", "python - <<'PY'\n"
                        "from benchmarks.bench_load import wipe\n"
                        "from kg_builder.graph.driver import connect\n"
                        "from kg_builder.core.settings import Settings\n"
                        "s = Settings(); d = connect(s); wipe(d, s.neo4j_database)\nPY"],
                       check=True, cwd=ROOT, env=env)
        subprocess.run(["miko", "load-release", "--no-progress"], check=True, cwd=ROOT, env=env,
                       stdout=subprocess.DEVNULL)
    posts = [r for r in MikoReader(settings.data_dir / "miko") if isinstance(r, PostRecord)]
    texts = [p.text for p in posts] + [i.tail for p in posts for i in p.intentions]
    random.seed(7)
    random.shuffle(texts)
    from kg_builder.graph.driver import connect

    with connect(settings) as drv:  # the posts actually in the graph (MIKO, or grown to scale)
        ids = [r["id"] for r in drv.execute_query(
            "MATCH (p:Post) RETURN p.id AS id ORDER BY id", database_=settings.neo4j_database
        ).records]
        intention_nodes = drv.execute_query(
            "MATCH (i:Intention) RETURN count(i) AS n", database_=settings.neo4j_database
        ).records[0]["n"]

    peer_dir = ROOT / "benchmarks" / "peer_neo4j_graphql"
    if not (peer_dir / "node_modules").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=peer_dir, check=True)
    ours = subprocess.Popen(["miko", "serve", "--port", str(args.ours_port)], cwd=ROOT,
                            env={**env, "MIKO_API_GRAPHIQL": "false"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peer = subprocess.Popen([shutil.which("node") or "node", "server.mjs"], cwd=peer_dir,
                            env={**env, "NEO4J_URI": settings.bolt_uri, "PORT": str(args.peer_port),
                                 "NEO4J_PASSWORD": settings.neo4j_password.get_secret_value()},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours_url = f"http://127.0.0.1:{args.ours_port}/graphql"
    peer_url = f"http://127.0.0.1:{args.peer_port}/"
    results: dict[str, Any] = {"machine": machine(), "git": git_rev(), "posts": len(ids),
                               "intention_nodes": intention_nodes}
    try:
        wait_ready(ours_url, {"query": "{ relationStats { edges } }"})
        wait_ready(peer_url, {"query": "{ posts(limit: 1) { id } }"})
        rels = list(Relation)

        def cursor(i: int) -> str | None:
            start = random.Random(i).randrange(0, max(1, len(ids) - 50))
            return None if start == 0 else base64.urlsafe_b64encode(
                f"c:{ids[start - 1]}".encode()).decode()

        workloads: list[tuple[str, str, Callable[[int], dict[str, Any]]]] = [
            ("searchIntentions (global)", ours_url,
             lambda i: {"query": SEARCH, "variables": {"t": distinct(texts, i, "g")}}),
            ("searchIntentions (relation)", ours_url,
             lambda i: {"query": SEARCH_REL, "variables": {
                 "t": distinct(texts, i + 5000, "r"), "r": rels[i % 10].name}}),
            ("similarPosts", ours_url,
             lambda i: {"query": SIMILAR_POSTS, "variables": {"id": ids[(i * 37) % len(ids)]}}),
            ("page of 50 posts + intentions: miko", ours_url,
             lambda i: {"query": OURS_PAGE, "variables": {"after": cursor(i)}}),
            ("page of 50 posts + intentions: @neo4j/graphql", peer_url,
             lambda i: {"query": PEER_PAGE, "variables": {
                 "offset": random.Random(i).randrange(0, max(1, len(ids) - 50))}}),
        ]
        print(f"machine: {machine()}; git {git_rev()}; {len(ids):,} posts, "
              f"{intention_nodes:,} intention nodes")
        neo4j_pid = Neo4jServer(settings).pid() if settings.managed else None
        print(f"{'workload':<48}{'clients':>8}{'p50 ms':>9}{'p99 ms':>9}{'q/s':>8}{'errors':>8}"
              f"{'API cpu ms/req':>16}{'Neo4j cpu ms/req':>18}")
        for name, url, make in [w for w in workloads if args.only in w[0]]:
            asyncio.run(run_load(url, shifted(make, 10_000), 30, 2))  # warm-up
            server = ours if url == ours_url else peer
            for conc in (int(c) for c in args.clients.split(",")):
                offset = 20_000 * conc
                api0 = tree_cpu_seconds(server.pid)
                neo0 = tree_cpu_seconds(neo4j_pid) if neo4j_pid else 0.0
                r = asyncio.run(run_load(url, shifted(make, offset), args.requests, conc))
                r["api_cpu_ms_per_request"] = 1000 * (tree_cpu_seconds(server.pid) - api0) / r["n"]
                r["neo4j_cpu_ms_per_request"] = (
                    1000 * (tree_cpu_seconds(neo4j_pid) - neo0) / r["n"] if neo4j_pid else 0.0)
                results[f"{name} | c={conc}"] = {k: round(v, 2) for k, v in r.items()}
                print(f"{name:<48}{conc:>8}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
                      f"{r['qps']:>8.0f}{r['errors']:>8}{r['api_cpu_ms_per_request']:>16.1f}"
                      f"{r['neo4j_cpu_ms_per_request']:>18.1f}")
    finally:
        ours.terminate()
        peer.terminate()
        ours.wait(10)
        peer.wait(10)
    dump(args.out, results)


if __name__ == "__main__":
    main()
