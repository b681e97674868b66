"""Vector index settings at the paper's scale: recall@10 against exact search, build time and
query latency of HNSW `m`, `ef_construction` and quantization, over 1.36M intention vectors.

The vectors are those of `build_scale.py`: the 7,572 distinct MIKO intention tails embedded with
all-MiniLM-L6-v2, replicated 180x with seeded Gaussian noise (then normalised), written as
`:Intention {id, relation, typicality, embedding}` nodes of the scratch server (relation by tail,
typicality seeded uniform; no posts or edges: only the index is measured), indexed as miko's one
intention index is, with relation and typicality as filter properties. Unfiltered and filtered
searches (a relation; a high typicality floor; both) are each scored against the exact top 10
of the vectors that match. The queries are 1,000 other noisy copies of random tails (a seed of their own), so
no query is a stored point. Exact top-10 by cosine in numpy; each setting builds one index over
all the vectors (the global intention index), waits for it online, then runs the queries one
at a time, asking the index for `fetch` candidates (Lucene's search beam: the API's
`MIKO_API_SEARCH_CANDIDATES`) and keeping the best 10 by the index's (quantized) score, or
"rescored" by their exact cosine (as the API does): recall@10 = |HNSW top-10 & exact top-10| / 10,
averaged; p50/p99 of the Cypher call (the API adds the query embedding, 3-5 ms with the ONNX
embedder, BENCHMARKS.md). The score ratio (sum of the exact scores of the 10 returned / sum of
the exact top-10 scores, averaged) says how far the misses are from the true neighbours: the
copies of one tail are near-ties, and which of them is 10th is noise, not quality. Rows are
merged into the result file, so settings can be measured in several runs; `--reuse` keeps the
vectors already written by an earlier run. The index is built with the server's segment
settings (MIKO_NEO4J_VECTOR_BUILD_BUFFER_MB / _MERGE_FACTOR, written into neo4j.conf at start).

    ./scripts/bench.sh benchmarks/bench_hnsw.py [--replicas 180] [--queries 1000]
        [--settings 32:100:scalar,32:100:binary,32:100:none] [--fetch 10,40,100] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_load import wipe
from benchmarks.common import dump, git_rev, machine
from kg_builder.core.models import PostRecord
from kg_builder.core.settings import Settings
from kg_builder.embeddings import SentenceTransformerEmbedder
from kg_builder.graph.driver import connect
from kg_builder.graph.queries.write import Rows
from kg_builder.inputs.readers import MikoReader

INDEX = "bench_hnsw"
SETTINGS = "32:100:scalar,32:100:binary,32:100:none"  # m:ef_construction:quantization
RELATIONS = ("xNeed", "xIntent", "xAttr", "xEffect", "xReact", "xWant", "oEffect", "oReact",
             "oWant", "Open")
# (name, relation, typicality floor): filters inside the index (Cypher 25 SEARCH ... WHERE)
FILTERS: list[tuple[str, str | None, float | None]] = [
    ("global", None, None), ("relation xAttr", "xAttr", None),
    ("typicality >= 0.95", None, 0.95), ("xAttr and typicality >= 0.9", "xAttr", 0.9)]


def noisy(base: np.ndarray[Any, Any], idx: np.ndarray[Any, Any], noise: float,
          seed: int) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    v = base[idx] + noise * rng.standard_normal((len(idx), base.shape[1]), dtype=np.float32) / \
        np.sqrt(base.shape[1])
    out: np.ndarray[Any, Any] = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    return out


def exact_top10(vectors: np.ndarray[Any, Any], queries: np.ndarray[Any, Any],
                mask: np.ndarray[Any, Any] | None = None,
                ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The exact top-10 ids of every query (among the vectors ``mask`` keeps) and the sum of
    their exact scores."""
    ids = np.arange(len(vectors)) if mask is None else np.flatnonzero(mask)
    kept = vectors if mask is None else vectors[ids]
    out = np.empty((len(queries), 10), dtype=np.int64)
    best = np.empty(len(queries), dtype=np.float64)
    for start in range(0, len(queries), 50):
        scores = queries[start:start + 50] @ kept.T
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        out[start:start + 50] = ids[top]
        best[start:start + 50] = np.take_along_axis(scores, top, axis=1).sum(axis=1)
    return out, best


QUANTIZATION = {"1": "SCALAR", "scalar": "SCALAR", "0": "NONE", "none": "NONE",
                "binary": "BINARY"}


def parse_settings(text: str) -> list[tuple[int, int, str]]:
    out = []
    for item in text.split(","):
        m, ef, q = item.split(":")
        out.append((int(m), int(ef), QUANTIZATION[q.strip().lower()]))
    return out


def index_segments(driver: Any, db: str, index: str = INDEX) -> int | None:
    """Lucene segments of an index (the measured one by default; each segment is searched on
    its own), when the server's folder is local."""
    record = driver.execute_query("SHOW INDEXES YIELD name, id WHERE name = $name RETURN id",
                                  name=index, database_=db).records
    folder = os.environ.get("MIKO_NEO4J_DATA_DIR")
    if not record or not folder:
        return None
    found = list(Path(folder).glob(f"**/schema/index/vector-*/{record[0]['id']}/*/*.si"))
    return len(found) or None


def existing_index(driver: Any, db: str) -> tuple[int, int, str] | None:
    """(m, ef_construction, quantization) of the online benchmark index, if there is one."""
    records = driver.execute_query(
        "SHOW INDEXES YIELD name, state, options WHERE name = $name AND state = 'ONLINE' "
        "RETURN options.indexConfig AS c", name=INDEX, database_=db).records
    if not records:
        return None
    c = records[0]["c"]
    return (int(c["vector.hnsw.m"]), int(c["vector.hnsw.ef_construction"]),
            str(c["vector.quantization.type"]))


def create_index(driver: Any, db: str, m: int, ef: int, quantized: str, dim: int) -> float:
    """Build the benchmark index with these settings (relation and typicality as its filter
    properties, as miko's intention index); seconds until it is online."""
    driver.execute_query(f"DROP INDEX {INDEX} IF EXISTS", database_=db)
    t = time.perf_counter()
    driver.execute_query(
        f"CYPHER 25 CREATE VECTOR INDEX {INDEX} FOR (i:Intention) ON i.embedding "
        "WITH [i.relation, i.typicality] OPTIONS {indexConfig: {"
        "`vector.dimensions`: $dim, `vector.similarity_function`: 'cosine', "
        "`vector.hnsw.m`: $m, `vector.hnsw.ef_construction`: $ef, "
        "`vector.quantization.type`: $q}}", dim=dim, m=m, ef=ef, q=quantized, database_=db)
    driver.execute_query(f"CALL db.awaitIndex('{INDEX}', 7200)", database_=db)
    return time.perf_counter() - t


def search_statement(rescore: bool, relation: bool = False, typicality: bool = False) -> str:
    """The top 10 of `$fetch` candidates that pass the filters (inside the index): rescored,
    ordered by their exact cosine (the stored float vectors), as the API's searches do; else by
    the index's score."""
    order = "vector.similarity.cosine(node.embedding, $v)" if rescore else "score"
    where = (["node.relation = $relation"] if relation else []) + (
        ["node.typicality >= $low"] if typicality else [])
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    return (f"CYPHER 25 MATCH (node:Intention) SEARCH node IN (VECTOR INDEX {INDEX} FOR $v "
            f"{clause}LIMIT $fetch) SCORE AS score "
            f"WITH node, {order} AS s RETURN node.id AS id ORDER BY s DESC LIMIT 10")


def end_to_end(driver: Any, db: str, settings: Settings, vectors: np.ndarray[Any, Any],
               fetch: int, n: int) -> dict[str, Any]:
    """Text queries as the API runs them: embed the text (the API's query embedder), then the
    rescored search; recall@10 against the exact top-10 of the torch model's vector."""
    from kg_builder.embeddings import load_query_embedder

    tails = sorted({i.tail for r in MikoReader(settings.data_dir / "miko")
                    if isinstance(r, PostRecord) for i in r.intentions})
    rng = np.random.default_rng(20_000)
    texts = [tails[k] for k in rng.choice(len(tails), size=min(n, len(tails)), replace=False)]
    exact = SentenceTransformerEmbedder(settings.embedding_model).embed(texts).astype(np.float32)
    truth, _ = exact_top10(vectors, exact)
    embedder = load_query_embedder(settings)
    statement = search_statement(rescore=True)
    embedder.embed([texts[0]])  # warm
    totals, embeds, recalls = [], [], []
    for q, text in enumerate(texts):
        t = time.perf_counter()
        vector = embedder.embed([text])[0].tolist()
        e = time.perf_counter()
        found = driver.execute_query(statement, v=vector, fetch=fetch, database_=db).records
        totals.append(time.perf_counter() - t)
        embeds.append(e - t)
        recalls.append(len({int(r["id"]) for r in found} & set(truth[q].tolist())) / 10)
    totals.sort()
    return {"queries": len(texts), "embedder": type(embedder).__name__,
            "recall_at_10": round(statistics.fmean(recalls), 4),
            "embed_p50_ms": round(statistics.median(embeds) * 1000, 2),
            "p50_ms": round(statistics.median(totals) * 1000, 2),
            "p99_ms": round(totals[int(len(totals) * 0.99) - 1] * 1000, 2), "git": git_rev()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=180)
    ap.add_argument("--noise", type=float, default=0.35)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--settings", default=SETTINGS, help="m:ef_construction:quantization,...")
    ap.add_argument("--fetch", default="100", help="candidates asked of the index")
    ap.add_argument("--reuse", action="store_true", help="keep vectors written by an earlier run")
    ap.add_argument("--keep-index", action="store_true",
                    help="measure an online index of the same settings left by an earlier run "
                         "(its build time from that run's results, or --built-in) and leave it")
    ap.add_argument("--built-in", type=float, default=None,
                    help="with --keep-index: the kept index's build seconds, timed elsewhere")
    ap.add_argument("--end-to-end", type=int, default=0, metavar="FETCH",
                    help="also time text queries as the API runs them: the query embedder "
                         "(MIKO_API_QUERY_EMBEDDER) on --queries distinct MIKO intention tails "
                         "(short phrases, as searchIntentions gets; each once: no cache), then "
                         "the rescored search asking FETCH candidates")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/hnsw.json"))
    args = ap.parse_args()
    fetches = [int(f) for f in args.fetch.split(",") if f.strip()]  # "": only --end-to-end
    if os.environ.get("MIKO_BENCH_SCRATCH_GRAPH") != "1":
        sys.exit("run it through scripts/bench.sh (scratch server)")
    settings = Settings()
    db = settings.neo4j_database
    driver = connect(settings)
    tails = sorted({i.tail for r in MikoReader(settings.data_dir / "miko")
                    if isinstance(r, PostRecord) for i in r.intentions})
    base = SentenceTransformerEmbedder(settings.embedding_model).embed(tails).astype(np.float32)
    n = len(tails) * args.replicas
    vectors = np.concatenate([noisy(base, np.arange(len(tails)), args.noise, r)
                              for r in range(args.replicas)])
    rng = np.random.default_rng(10_000)
    queries = noisy(base, rng.integers(0, len(tails), args.queries), args.noise, 10_001)
    relations = np.array([RELATIONS[(i % len(tails)) % len(RELATIONS)] for i in range(n)])
    typicality = np.random.default_rng(40_000).random(n)
    t = time.perf_counter()
    exact: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]] = {}
    for name, relation, low in FILTERS:
        mask = np.ones(n, dtype=bool)
        if relation is not None:
            mask &= relations == relation
        if low is not None:
            mask &= typicality >= low
        exact[name] = (*exact_top10(vectors, queries, None if mask.all() else mask),
                       int(mask.sum()))
    truth, best, _ = exact["global"]
    exact_s = time.perf_counter() - t
    print(f"machine: {machine()}; git {git_rev()}; {n:,} vectors x {base.shape[1]}, "
          f"{args.queries:,} queries; exact top-10 in numpy {exact_s:.1f}s")

    written = driver.execute_query("MATCH (i:Intention) RETURN count(i) AS n",
                                   database_=db).records[0]["n"]
    reuse = args.reuse and written == n
    if not reuse:
        wipe(driver, db)
    for record in driver.execute_query("SHOW VECTOR INDEXES YIELD name", database_=db).records:
        # none maintained while the vectors are written (a scratch server: nothing else's);
        # with --reuse nothing is written, and an index kept for --keep-index stays
        if not reuse:
            driver.execute_query(f"DROP INDEX `{record['name']}` IF EXISTS", database_=db)
    t = time.perf_counter()
    for start in range(0, 0 if reuse else n, 5000):
        rows = Rows({"id": i, "v": vectors[i].tolist(), "r": str(relations[i]),
                     "t": float(typicality[i])} for i in range(start, min(n, start + 5000)))
        driver.execute_query("UNWIND $rows AS row CREATE (i:Intention {id: toString(row.id), "
                             "relation: row.r, typicality: row.t}) "
                             "WITH i, row CALL db.create.setNodeVectorProperty(i, 'embedding', row.v)",
                             rows=rows, database_=db)
    print(f"kept {n:,} nodes with vectors of an earlier run" if reuse else
          f"wrote {n:,} nodes with vectors in {time.perf_counter() - t:.0f}s")

    build = (f"buffer {settings.neo4j_vector_build_buffer_mb:g} MB, "
             f"merge factor {settings.neo4j_vector_build_merge_factor}")
    print(f"segments built with {build}")
    print(f"{'m':>4}{'ef_constr.':>11}{'quantized':>10}{'build s':>9}{'fetch':>6}{'rescored':>9}"
          f"  {'filter (matching)':<38}{'recall@10':>10}{'ratio':>8}{'p50 ms':>8}{'p99 ms':>8}")
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    results.update({"machine": machine(), "git": git_rev(), "vectors": n,
                    "queries": args.queries, "exact_s": round(exact_s, 1)})
    for m, ef, quantized in parse_settings(args.settings):
        label = f"m={m} ef_construction={ef} quantized={quantized}"
        if args.keep_index and reuse and existing_index(driver, db) == (m, ef, quantized):
            earlier = [v["build_s"] for k, v in results.items()
                       if k.startswith(label + " fetch=") and k.endswith(build)]
            build_s = args.built_in or (earlier[-1] if earlier else float("nan"))
            print(f"measuring the online index of an earlier run (built in {build_s:.0f}s)")
        else:
            build_s = create_index(driver, db, m, ef, quantized, int(base.shape[1]))
        segments = index_segments(driver, db)
        runs = [(f, r, kind) for f in fetches for kind in FILTERS
                for r in ((False, True) if kind[0] == "global" else (True,))]
        for fetch, rescore, (kind, relation, low) in runs:
            statement = search_statement(rescore, relation is not None, low is not None)
            truth, best, matching = exact[kind]
            latencies, recalls, near = [], [], []
            for q in range(len(queries)):
                vector = queries[q].tolist()
                t = time.perf_counter()
                found = driver.execute_query(statement, v=vector, fetch=fetch, relation=relation,
                                             low=low, database_=db).records
                latencies.append(time.perf_counter() - t)
                ids = [int(r["id"]) for r in found]
                recalls.append(len(set(ids) & set(truth[q].tolist())) / 10)
                near.append(float(np.sum(vectors[ids] @ queries[q])) / best[q] if ids else 0.0)
            latencies.sort()
            p50 = statistics.median(latencies) * 1000
            p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
            recall, within = statistics.fmean(recalls), statistics.fmean(near)
            shown = f"{kind} ({matching:,})"
            print(f"{m:>4}{ef:>11}{quantized!s:>10}{build_s:>9.0f}{fetch:>6}{rescore!s:>9}"
                  f"  {shown:<38}{recall:>10.3f}{within:>8.4f}{p50:>8.1f}{p99:>8.1f}", flush=True)
            results[f"{label} fetch={fetch} rescored={rescore} filter={kind} {build}"] = {
                "matching": matching,
                "build_s": round(build_s, 1), "segments": segments,
                "recall_at_10": round(recall, 4), "score_ratio": round(within, 5),
                "p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "git": git_rev()}
            dump(args.out, results)
        if args.end_to_end:
            key = f"{label} fetch={args.end_to_end} end-to-end {build}"
            results[key] = {"build_s": round(build_s, 1), "segments": segments,
                            **end_to_end(driver, db, settings, vectors, args.end_to_end,
                                         args.queries)}
            print(f"end to end (query embedding + rescored search, fetch {args.end_to_end}): "
                  f"{results[key]}", flush=True)
            dump(args.out, results)
    if not args.keep_index:
        driver.execute_query(f"DROP INDEX {INDEX} IF EXISTS", database_=db)
    driver.close()


if __name__ == "__main__":
    main()
