"""Grow the scratch graph to the paper's scale with synthetic records in the loader's input format.

The MIKO train posts (with their ten intentions) are replicated R times with distinct ids and
tails ("... #r17"); each replica's vectors are the real MIKO embeddings plus seeded Gaussian noise
(then normalised), so every intention is a distinct point near a real one. With R=180 that is
137,700 posts and 1.37M intention edges, as in the paper's knowledge base. Loaded through our
online loader (deferred vector indexes), or with `--bulk` through the bulk path (import files,
`neo4j-admin database import full`, schema and indexes), or with `--peer` through neo4j-graphrag's
`Neo4jWriter` (same labels, properties and indexes; the schema in place before it writes, as in
`bench_load.py`; the records handed to it `--peer-chunk` replicas at a time), timed.

    ./scripts/bench.sh benchmarks/build_scale.py [--replicas 180] [--noise 0.35]
        [--bulk | --peer] [--no-embeddings]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_load import graphrag_graph, peer_writer, wipe
from benchmarks.common import dump, git_rev, machine
from kg_builder.core.models import ImageRef, IntentionRecord, PostRecord
from kg_builder.core.settings import Settings
from kg_builder.embeddings import SentenceTransformerEmbedder, Vectors
from kg_builder.graph.driver import connect
from kg_builder.graph.schema import await_indexes, init_schema
from kg_builder.inputs.readers import MikoReader
from kg_builder.loading.bulk import BulkLoader
from kg_builder.loading.loader import GraphLoader, LoadSummary

SUFFIX = re.compile(r"\s*#r(\d+)$")


class NoisyEmbedder:
    """Real vectors of the base texts, plus noise seeded by the replica suffix."""

    def __init__(self, base: SentenceTransformerEmbedder, noise: float) -> None:
        self.base = base
        self.noise = noise
        self.model_name = base.model_name
        self.dimension = base.dimension
        self.table: dict[str, np.ndarray[Any, Any]] = {}

    def embed(self, texts: Sequence[str]) -> Vectors:
        keys = [SUFFIX.sub("", t) for t in texts]
        missing = sorted({k for k in keys if k not in self.table})
        if missing:
            for k, v in zip(missing, self.base.embed(missing), strict=True):
                self.table[k] = v
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for n, (t, k) in enumerate(zip(texts, keys, strict=True)):
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            noise = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
            v = self.table[k] + self.noise * noise / np.sqrt(self.dimension)
            out[n] = v / np.linalg.norm(v)
        return out


def records(base: list[PostRecord], replicas: int) -> Iterator[PostRecord]:
    for r in range(replicas):
        for p in base:
            yield PostRecord(
                id=f"{p.id}#r{r}", text=f"{p.text} #r{r}", source="synthetic", split=p.split,
                image=ImageRef(file=f"r{r}-{p.image.file}") if p.image else None,
                intentions=[IntentionRecord(relation=i.relation, text=f"{i.text} #r{r}",
                                            label=i.label, source="synthetic")
                            for i in p.intentions],
            )


class PeerSummary:
    """What the timing lines need from a `Neo4jWriter` load (it returns no summary of its own)."""

    def __init__(self, write_seconds: float, index_seconds: float, edges: int) -> None:
        self.write_seconds = write_seconds
        self.index_seconds = index_seconds
        self.edges = edges


def peer_load(driver: Any, db: str, posts: Iterator[PostRecord], embedder: NoisyEmbedder,
              embeddings: bool, chunk: int, total: int,
              limit_s: float | None = None) -> tuple[int, int, float]:
    """neo4j-graphrag's `Neo4jWriter` over the records, ``chunk`` whole replicas per run (its
    graph objects for 1.37M intentions at once would not fit; it CREATEs each run's nodes and
    links only within the run, so an intention shared by two posts of a replica must be in one
    run, and a replica's intentions (their tails end in its "#rN") are in no other); (posts
    written, intention edges written, seconds). With ``limit_s`` it stops after the first run
    that ends past it: its rate so far bounds the whole load's from above (a vector index only
    grows slower to insert into). A run the writer reports failed (it logs and returns) stops
    the benchmark: its rate would count work not done."""
    writer = peer_writer(driver, db)
    started, done, edges = time.perf_counter(), 0, 0
    batch: list[PostRecord] = []

    def flush() -> None:
        nonlocal done, edges
        result = asyncio.run(writer.run(graphrag_graph(batch, embedder, embeddings)))  # type: ignore[arg-type]
        if result.status != "SUCCESS":
            sys.exit(f"Neo4jWriter failed on posts {batch[0].id} .. {batch[-1].id}: {result}")
        done += len(batch)
        edges += sum(len(p.intentions) for p in batch)
        batch.clear()
        rate = done / (time.perf_counter() - started)
        print(f"  Neo4jWriter: {done:,}/{total:,} posts, {rate:,.0f} posts/s", flush=True)

    replicas: set[str] = set()
    for post in posts:
        replica = post.id.rsplit("#r", 1)[1]
        if replica not in replicas and len(replicas) == chunk:
            flush()
            replicas.clear()
            if limit_s is not None and time.perf_counter() - started > limit_s:
                print(f"  Neo4jWriter: stopped at the {limit_s:.0f} s limit", flush=True)
                return done, edges, time.perf_counter() - started
        replicas.add(replica)
        batch.append(post)
    if batch:
        flush()
    return done, edges, time.perf_counter() - started


SCORED: dict[str, float] = {}


def score(driver: Any, db: str) -> None:
    """The packaged critic's typicality on every edge (and intention), timed."""
    from kg_builder.quality.critic import load_critic
    from kg_builder.quality.scoring import score_graph

    t = time.perf_counter()
    summary = score_graph(driver, db, load_critic(None), progress=True)
    SCORED.update(seconds=time.perf_counter() - t, edges=summary.edges)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=180)
    ap.add_argument("--noise", type=float, default=0.35)
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--bulk", action="store_true", help="the bulk path instead of the online one")
    ap.add_argument("--peer", action="store_true", help="neo4j-graphrag's Neo4jWriter instead")
    ap.add_argument("--peer-chunk", type=int, default=2,
                    help="replicas (of 765 posts) per Neo4jWriter run")
    ap.add_argument("--peer-limit", type=float, default=None, metavar="SECONDS",
                    help="stop the peer after this long and report its rate so far")
    ap.add_argument("--no-embeddings", action="store_true",
                    help="write no embedding properties (and so no vector index entries)")
    ap.add_argument("--critic", action="store_true",
                    help="score the edges with the packaged critic once written, before the "
                    "deferred vector indexes are built (as `miko load` does; online path only)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    embeddings = not args.no_embeddings
    if args.bulk and args.peer:
        sys.exit("--bulk or --peer, not both")
    path = "bulk" if args.bulk else "peer" if args.peer else "online"
    out = args.out or Path(f"benchmarks/results/scale{'' if path == 'online' else '-' + path}"
                           f"{'' if embeddings else '-noemb'}.json")
    if os.environ.get("MIKO_BENCH_SCRATCH_GRAPH") != "1":
        sys.exit("run it through scripts/bench.sh (scratch server)")
    settings = Settings()
    driver = connect(settings)
    db = settings.neo4j_database
    model = SentenceTransformerEmbedder(settings.embedding_model)
    base = [r for r in MikoReader(settings.data_dir / "miko")
            if isinstance(r, PostRecord) and r.intentions]
    wipe(driver, db)
    embedder = NoisyEmbedder(model, args.noise)
    summary: LoadSummary | PeerSummary
    t = time.perf_counter()
    if args.bulk:
        for record in driver.execute_query("SHOW INDEXES YIELD name, type WHERE type = 'VECTOR' "
                                           "RETURN name", database_=db).records:
            driver.execute_query(f"DROP INDEX `{record['name']}` IF EXISTS", database_=db)
        driver.close()  # the import replaces the store: a driver of before means nothing
        summary = BulkLoader(settings, embedder, batch_size=args.batch_size,
                             embeddings=embeddings).load(
            records(base, args.replicas), progress=True, total=len(base) * args.replicas)
        driver = connect(settings)
    elif args.peer:
        init_schema(driver, db, model.model_name, model.dimension, settings.index_options)
        _, written, write_s = peer_load(driver, db, records(base, args.replicas), embedder,
                                        embeddings, args.peer_chunk, len(base) * args.replicas,
                                        args.peer_limit)
        t_index = time.perf_counter()
        await_indexes(driver, db)  # the project's own wait, as our loaders use
        summary = PeerSummary(write_s, time.perf_counter() - t_index, written)
    else:
        init_schema(driver, db, model.model_name, model.dimension, settings.index_options)
        loader = GraphLoader(driver, embedder, db, batch_size=args.batch_size,
                             index_options=settings.index_options, embeddings=embeddings)
        summary = loader.load(records(base, args.replicas), progress=True,
                              total=len(base) * args.replicas,
                              after_writes=(lambda: score(driver, db)) if args.critic else None)
    dt = time.perf_counter() - t
    counts = driver.execute_query(
        "MATCH (p:Post) WITH count(p) AS posts MATCH (i:Intention) "
        "RETURN posts, count(i) AS intentions").records[0]
    edges = summary.edges if isinstance(summary, PeerSummary) else summary.intention_edges.total()
    entities = counts["posts"] * 2 + counts["intentions"] + edges  # posts, images, links
    partial = counts["posts"] < len(base) * args.replicas
    print(f"machine: {machine()}")
    write = "stop, import, start" if args.bulk else "Neo4jWriter runs" if args.peer \
        else "write transactions"
    files = f"reading, embedding, files {dt - summary.write_seconds - summary.index_seconds:.0f}s, " \
        if args.bulk else ""
    print(f"{path}{'' if embeddings else ', no embeddings'}: posts {counts['posts']:,}, intention nodes "
          f"{counts['intentions']:,}, intention edges {edges:,}; loaded in {dt:.0f}s ({files}{write} "
          f"{summary.write_seconds:.0f}s, schema and indexes {summary.index_seconds:.0f}s) = "
          f"{entities / dt:,.0f} entities/s"
          f"{' (stopped at the limit: a partial load)' if partial else ''}")
    if SCORED:
        print(f"  of which the critic scored {SCORED['edges']:,.0f} edges in "
              f"{SCORED['seconds']:.0f}s (between the writes and the index build)")
    dump(out, {"machine": machine(), "path": path,
                    "embeddings": embeddings, "git": git_rev(),
                    "posts": counts["posts"],
                    "intentions": counts["intentions"], "edges": edges, "seconds": round(dt),
                    "partial": partial,
                    "write_seconds": round(summary.write_seconds),
                    "index_seconds": round(summary.index_seconds),
                    "critic_seconds": round(SCORED["seconds"]) if SCORED else None})
    driver.close()


if __name__ == "__main__":
    main()
