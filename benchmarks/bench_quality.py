"""Speed of the quality loop on CPU: `miko eval` (BERTScore pairs/s) and the typicality critic
(edges/s: the model alone over 1.37M synthetic edges, and scoring a loaded graph end to end).

    ./scripts/bench.sh benchmarks/bench_quality.py [--replicas 10]

The graph part loads the MIKO release (train and test) `--replicas` times with distinct post ids
into the bench server's scratch graph, then scores every edge with the packaged critic.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import dump, git_rev, machine  # noqa: E402
from kg_builder.core.models import PostRecord  # noqa: E402
from kg_builder.core.relations import Relation  # noqa: E402
from kg_builder.core.settings import Settings  # noqa: E402
from kg_builder.embeddings import load_embedder  # noqa: E402
from kg_builder.graph.driver import connect  # noqa: E402
from kg_builder.graph.schema import await_indexes, init_schema  # noqa: E402
from kg_builder.graph.scratch import scratch_problem  # noqa: E402
from kg_builder.inputs.readers import MikoReader  # noqa: E402
from kg_builder.loading.loader import GraphLoader  # noqa: E402
from kg_builder.quality.bertscore import BERTScorer  # noqa: E402
from kg_builder.quality.critic import load_critic  # noqa: E402
from kg_builder.quality.scoring import score_graph  # noqa: E402


def bench_eval(settings: Settings, pairs: int) -> dict[str, float]:
    posts = json.loads((settings.data_dir / "miko" / "train.json").read_text(encoding="utf-8"))
    sentences = [s for p in posts for s in p["intentions"].values()]
    cands = sentences[:pairs]
    refs = sentences[1:pairs + 1]
    started = time.perf_counter()
    scorer = BERTScorer(settings.eval_backbone)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    scorer.score(cands, refs)
    seconds = time.perf_counter() - started
    print(f"miko eval (BERTScore, {scorer.name}): {len(cands):,} pairs in {seconds:.1f}s = "
          f"{len(cands) / seconds:,.0f} pairs/s (model load {load_s:.1f}s, not counted)")
    return {"pairs": len(cands), "seconds": round(seconds, 2),
            "pairs_per_s": round(len(cands) / seconds), "model_load_s": round(load_s, 1)}


def bench_critic_model(edges: int) -> dict[str, float]:
    critic = load_critic(None)
    rng = np.random.default_rng(0)
    batch = 10_000
    post = rng.standard_normal((batch, critic.dimension)).astype(np.float32)
    tail = rng.standard_normal((batch, critic.dimension)).astype(np.float32)
    relations = [list(Relation)[i % len(Relation)] for i in range(batch)]
    started = time.perf_counter()
    done = 0
    while done < edges:
        critic.score(post, tail, relations)
        done += batch
    seconds = time.perf_counter() - started
    print(f"critic model alone ({critic.name} {critic.version}, {critic.feature_set}): "
          f"{done:,} edges in {seconds:.1f}s = {done / seconds:,.0f} edges/s")
    return {"edges": done, "seconds": round(seconds, 2), "edges_per_s": round(done / seconds)}


def bench_critic_graph(settings: Settings, replicas: int) -> dict[str, float]:
    driver = connect(settings)
    problem = scratch_problem(driver, settings.neo4j_database)
    if problem:
        sys.exit(f"refusing to wipe this server: {problem}; run via ./scripts/bench.sh")
    db = settings.neo4j_database
    with driver.session(database=db) as session:  # CALL IN TRANSACTIONS needs auto-commit
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
                    ).consume()
    embedder = load_embedder(settings)
    init_schema(driver, db, embedder.model_name, embedder.dimension)
    base = [r for r in MikoReader(settings.data_dir / "miko") if isinstance(r, PostRecord)]
    records = [r.model_copy(update={"id": f"{r.id}#r{n}"}) for n in range(replicas) for r in base]
    GraphLoader(driver, embedder, db).load(records, progress=False)
    await_indexes(driver, db)
    summary = score_graph(driver, db, load_critic(None), rescore_all=True, progress=False)
    driver.close()
    print(f"critic scoring a loaded graph ({summary.posts:,} posts; reads both vectors from "
          f"Neo4j, writes typicality and each intention's best): {summary.edges:,} edges in "
          f"{summary.seconds:.1f}s = {summary.edges / summary.seconds:,.0f} edges/s")
    return summary.as_dict()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--model-edges", type=int, default=1_370_000)
    ap.add_argument("--replicas", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/quality.json"))
    args = ap.parse_args()
    settings = Settings()
    print(f"machine: {machine()}; code {git_rev()}")
    result = {"eval": bench_eval(settings, args.pairs),
              "critic_model": bench_critic_model(args.model_edges),
              "critic_graph": bench_critic_graph(settings, args.replicas)}
    dump(args.out, result)


if __name__ == "__main__":
    main()
