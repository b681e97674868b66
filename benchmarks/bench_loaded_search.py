"""Is a loaded graph ready to search? Global vector search on the graph a load left behind.

`build_scale.py` loads the paper-size graph through our loader or through neo4j-graphrag's
`Neo4jWriter`; a load time means little if the index it leaves searches slowly. This measures,
on whatever graph the scratch server holds, miko's global intention index
(`intention_embedding`): its Lucene segments (each one searched on its own) and the latency of
1,000 queries one at a time — noisy copies of random MIKO tails (their own seed), the top 10 of
100 candidates rescored by exact cosine, the statement `bench_hnsw.py` times (the API adds the
query embedding). No recall: the graph's vectors are not read back.

    ./scripts/bench.sh benchmarks/bench_loaded_search.py [--label peer]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_hnsw import index_segments, noisy
from benchmarks.common import dump, git_rev, machine
from kg_builder.core.models import PostRecord
from kg_builder.core.settings import Settings
from kg_builder.embeddings import SentenceTransformerEmbedder
from kg_builder.graph.driver import connect
from kg_builder.loading.readers import MikoReader

INDEX = "intention_embedding"
STATEMENT = (f"CALL db.index.vector.queryNodes('{INDEX}', $fetch, $v) YIELD node "
             "WITH node, vector.similarity.cosine(node.embedding, $v) AS s "
             "RETURN node.id AS id ORDER BY s DESC LIMIT 10")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="graph", help="what loaded the graph, for the output")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--fetch", type=int, default=100)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if os.environ.get("MIKO_BENCH_SCRATCH_GRAPH") != "1":
        sys.exit("run it through scripts/bench.sh (scratch server)")
    settings = Settings()
    db = settings.neo4j_database
    driver = connect(settings)
    vectors_in_index = driver.execute_query(
        "MATCH (i:Intention) WHERE i.embedding IS NOT NULL RETURN count(i) AS n",
        database_=db).records[0]["n"]
    tails = sorted({i.tail for r in MikoReader(settings.data_dir / "miko")
                    if isinstance(r, PostRecord) for i in r.intentions})
    base = SentenceTransformerEmbedder(settings.embedding_model).embed(tails).astype(np.float32)
    rng = np.random.default_rng(30_000)
    queries = noisy(base, rng.integers(0, len(tails), args.queries), 0.35, 30_001)
    for q in queries[:20]:  # warm
        driver.execute_query(STATEMENT, v=q.tolist(), fetch=args.fetch, database_=db)
    times = []
    for q in queries:
        t = time.perf_counter()
        driver.execute_query(STATEMENT, v=q.tolist(), fetch=args.fetch, database_=db)
        times.append(time.perf_counter() - t)
    times.sort()
    result = {"label": args.label, "machine": machine(), "git": git_rev(),
              "vectors": vectors_in_index, "segments": index_segments(driver, db, INDEX),
              "queries": len(times), "fetch": args.fetch,
              "p50_ms": round(statistics.median(times) * 1000, 2),
              "p99_ms": round(times[int(len(times) * 0.99) - 1] * 1000, 2)}
    print(f"machine: {result['machine']}; git {result['git']}")
    print(f"{args.label}: {vectors_in_index:,} intention vectors, global index in "
          f"{result['segments']} segments; {len(times):,} queries (top 10 of {args.fetch}, "
          f"rescored): p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
    dump(args.out or Path(f"benchmarks/results/loaded-search-{args.label}.json"), result)
    driver.close()


if __name__ == "__main__":
    main()
