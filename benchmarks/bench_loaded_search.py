"""Is a loaded graph ready to search? The API's vector searches on the graph a load left behind.

`build_scale.py` loads the paper-size graph through our loader or through neo4j-graphrag's
`Neo4jWriter`; a load time means little if the index it leaves searches slowly. This measures,
on whatever graph the scratch server holds, the one intention index (`intention_embedding`,
filter properties relation and typicality): its Lucene segments (each one searched on its own),
and for three kinds of search — global, relation-scoped (xAttr), and relation-scoped with a
high typicality floor (0.9) — the latency of `--queries` searches one at a time, the query
embedding included (a MIKO tail embedded by the configured model, then the API's statement,
`read.search_intentions`, top 10 of `--fetch` candidates rescored), and recall@10 against an
exact brute-force top 10 in Cypher (same filters, no index) on the first `--recall` queries.

    ./scripts/bench.sh benchmarks/bench_loaded_search.py [--label peer]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_hnsw import index_segments
from benchmarks.common import dump, git_rev, machine
from kg_builder.core.models import PostRecord
from kg_builder.core.settings import Settings
from kg_builder.embeddings import SentenceTransformerEmbedder
from kg_builder.graph.driver import connect
from kg_builder.graph.queries import read
from kg_builder.inputs.readers import MikoReader

INDEX = "intention_embedding"
EXACT = ("MATCH (node:Intention) WHERE {where} "
         "WITH node, vector.similarity.cosine(node.embedding, $vector) AS score "
         "RETURN node.id AS id ORDER BY score DESC LIMIT 10")
# (name, relation, typicality floor)
KINDS: list[tuple[str, str | None, float | None]] = [
    ("global", None, None), ("relation xAttr", "xAttr", None),
    ("xAttr, typicality >= 0.9", "xAttr", 0.9)]


def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return round(ordered[max(0, int(len(ordered) * q) - 1)] * 1000, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="graph", help="what loaded the graph, for the output")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--fetch", type=int, default=100)
    ap.add_argument("--recall", type=int, default=50, help="queries checked against exact search")
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
    embedder = SentenceTransformerEmbedder(settings.embedding_model)
    rng = np.random.default_rng(30_000)
    texts = [tails[i] for i in rng.integers(0, len(tails), args.queries)]
    result: dict[str, Any] = {
        "label": args.label, "machine": machine(), "git": git_rev(), "vectors": vectors_in_index,
        "segments": index_segments(driver, db, INDEX), "queries": len(texts),
        "fetch": args.fetch, "kinds": {}}
    print(f"machine: {result['machine']}; git {result['git']}")
    print(f"{args.label}: {vectors_in_index:,} intention vectors, the index in "
          f"{result['segments']} segments; {len(texts):,} queries a kind (top 10 of "
          f"{args.fetch}, rescored; the query embedding included)")
    for name, relation, low in KINDS:
        statement = read.search_intentions(relation is not None, low is not None)
        params = {"k": 10, "fetch": args.fetch, "min_score": 0.0, "relation": relation,
                  "min_typicality": low}
        where = " AND ".join((["node.relation = $relation"] if relation else [])
                             + (["node.typicality >= $min_typicality"] if low else [])) or "true"
        matching = driver.execute_query(
            f"MATCH (node:Intention) WHERE {where} RETURN count(node) AS n", params,
            database_=db).records[0]["n"]
        for text in texts[:20]:  # warm
            driver.execute_query(statement, params, vector=embedder.embed([text])[0].tolist(),
                                 database_=db)
        times, answers = [], []
        for text in texts:
            t = time.perf_counter()
            vector = embedder.embed([text])[0].tolist()
            records = driver.execute_query(statement, params, vector=vector, database_=db).records
            times.append(time.perf_counter() - t)
            answers.append((vector, [r["intention"]["id"] for r in records]))
        found = total = 0
        for vector, ids in answers[:args.recall]:
            truth = [r["id"] for r in driver.execute_query(
                EXACT.format(where=where), params, vector=vector, database_=db).records]
            found += len(set(ids) & set(truth))
            total += len(truth)
        row = {"matching": matching, "p50_ms": round(statistics.median(times) * 1000, 2),
               "p99_ms": percentile(times, 0.99),
               "recall_at_10": round(found / total, 4) if total else None,
               "recall_queries": min(args.recall, len(answers))}
        result["kinds"][name] = row
        print(f"  {name:<26} {matching:>9,} match: p50 {row['p50_ms']} ms, p99 "
              f"{row['p99_ms']} ms, recall@10 {row['recall_at_10']} "
              f"({row['recall_queries']} queries against exact search)", flush=True)
    dump(args.out or Path(f"benchmarks/results/loaded-search-{args.label}.json"), result)
    driver.close()


if __name__ == "__main__":
    main()
