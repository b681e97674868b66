"""Loading throughput: our loader vs neo4j-graphrag's Neo4jWriter vs a naive MERGE-per-row loader.

All three write the same rows (MIKO posts, images, intention nodes with their 384-d embeddings,
relation-typed edges, replicated with distinct ids to >= 150K entities) into the same real Neo4j
server, each into a freshly wiped database with the miko schema in place, in one run. Entities
are nodes + relationships. Embeddings are computed once beforehand (their throughput is measured
separately at the end), so the figures compare writing only.

    python benchmarks/bench_load.py [--replicas 10] [--naive-entities 3000] [--no-embeddings]

Needs a scratch server (it wipes the graph): MIKO_NEO4J_* must point at one and
MIKO_BENCH_SCRATCH_GRAPH=1 must be set; scripts/bench.sh does both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import LookupEmbedder, dump, git_rev, machine, neo4j_version
from kg_builder.core.models import ImageRef, IntentionRecord, PostRecord
from kg_builder.core.relations import Relation
from kg_builder.core.settings import Settings
from kg_builder.embeddings import SentenceTransformerEmbedder
from kg_builder.graph.driver import connect
from kg_builder.graph.schema import await_indexes, init_schema
from kg_builder.graph.scratch import scratch_problem
from kg_builder.inputs.readers import MikoReader
from kg_builder.loading.bulk import BulkLoader
from kg_builder.loading.loader import GraphLoader


def wipe(driver: Any, db: str) -> None:
    """Delete everything — nodes, indexes (another benchmark's too: an index left on :Intention
    would be maintained by every writer measured after it) and constraints —, only on a server
    whose data folder is marked scratch."""
    problem = scratch_problem(driver, db)
    if problem is not None:
        sys.exit(f"refusing to wipe the graph: {problem}")
    with driver.session(database=db) as s:
        s.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()
        for record in list(s.run("SHOW CONSTRAINTS YIELD name")):
            s.run(f"DROP CONSTRAINT `{record['name']}` IF EXISTS").consume()
        for record in list(s.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' "
                                 "RETURN name")):
            s.run(f"DROP INDEX `{record['name']}` IF EXISTS").consume()


def replicate(base: list[PostRecord], replicas: int) -> list[PostRecord]:
    out = []
    for r in range(replicas):
        for p in base:
            out.append(PostRecord(
                id=f"{p.id}#r{r}", text=f"{p.text} #r{r}", source=p.source, split=p.split,
                image=ImageRef(file=f"r{r}-{p.image.file}") if p.image else None,
                intentions=[IntentionRecord(relation=i.relation, text=f"{i.text} #r{r}",
                                            label=i.label, label_votes=i.label_votes,
                                            source=i.source) for i in p.intentions],
            ))
    return out


def entity_count(records: list[PostRecord]) -> int:
    nodes = {p.id for p in records} | {p.image.key for p in records if p.image}
    intentions = {i.id for p in records for i in p.intentions}
    rels = sum(len(p.intentions) + (1 if p.image else 0) for p in records)
    return len(nodes) + len(intentions) + rels


def peer_writer(driver: Any, db: str) -> Any:
    """neo4j-graphrag's `Neo4jWriter` giving each intention node its relation's label too, as
    ours carry (``XWant``...): the same labels, so the same indexes — each intention in the
    global vector index and its relation's. Its `Neo4jNode` takes one label; the writer's
    static `_nodes_to_rows` is where it makes a node's label list, extended here (nothing
    else of the writer changes)."""
    from neo4j_graphrag.components.kg_writer import Neo4jWriter

    class SameLabelsWriter(Neo4jWriter):
        @staticmethod
        def _nodes_to_rows(nodes: Any, lexical_graph_config: Any) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = Neo4jWriter._nodes_to_rows(nodes, lexical_graph_config)
            for row in rows:
                if "Intention" in row["labels"]:
                    row["labels"].append(Relation(row["properties"]["relation"]).label)
            return rows

    return SameLabelsWriter(driver, neo4j_database=db, batch_size=1000)


def graphrag_graph(records: list[PostRecord], emb: LookupEmbedder, with_emb: bool) -> Any:
    from neo4j_graphrag.experimental.components.types import (
        Neo4jGraph,
        Neo4jNode,
        Neo4jRelationship,
    )

    nodes: dict[str, Any] = {}
    rels = []
    for p in records:
        nodes[p.id] = Neo4jNode(
            id=p.id, label="Post",
            properties={k: v for k, v in {"id": p.id, "text": p.text, "source": p.source,
                                          "split": p.split}.items() if v is not None},
            embedding_properties={"embedding": emb.embed([p.text])[0].tolist()} if with_emb else {},
        )
        if p.image:
            nodes.setdefault(p.image.key, Neo4jNode(
                id=p.image.key, label="Image", properties={"id": p.image.key, "file": p.image.file}))
            rels.append(Neo4jRelationship(start_node_id=p.id, end_node_id=p.image.key,
                                          type="HAS_IMAGE"))
        for i in p.intentions:
            if i.id not in nodes:
                nodes[i.id] = Neo4jNode(
                    id=i.id, label="Intention",
                    properties={"id": i.id, "relation": i.relation.value, "text": i.text,
                                "tail": i.tail},
                    embedding_properties={"embedding": emb.embed([i.tail])[0].tolist()}
                    if with_emb else {},
                )
            rels.append(Neo4jRelationship(
                start_node_id=p.id, end_node_id=i.id, type=i.relation.rel_type,
                properties={k: v for k, v in {"text": i.text, "label": i.label,
                                                   "source": i.source or p.source}.items()
                            if v is not None}))  # the peer's types take no None
    return Neo4jGraph(nodes=list(nodes.values()), relationships=rels)


def naive_load(driver: Any, db: str, records: list[PostRecord], emb: LookupEmbedder,
               with_emb: bool, limit: int) -> int:
    """One MERGE per row, one auto-commit transaction each."""
    done = 0
    with driver.session(database=db) as s:
        for p in records:
            s.run("MERGE (p:Post {id: $id}) SET p.text = $text, p.source = $source, p.embedding = $e",
                  id=p.id, text=p.text, source=p.source,
                  e=emb.embed([p.text])[0].tolist() if with_emb else None).consume()
            done += 1
            for i in p.intentions:
                s.run("MERGE (i:Intention {id: $id}) SET i.relation = $rel, i.text = $text, "
                      "i.tail = $tail, i.embedding = $e", id=i.id, rel=i.relation.value,
                      text=i.text, tail=i.tail,
                      e=emb.embed([i.tail])[0].tolist() if with_emb else None).consume()
                s.run("MATCH (p:Post {id: $p}), (i:Intention {id: $i}) "
                      "MERGE (p)-[r:REL {type: $t}]->(i) SET r.text = $text",
                      p=p.id, i=i.id, t=i.relation.rel_type, text=i.text).consume()
                done += 2
            if done >= limit:
                break
    return done


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=10)
    ap.add_argument("--naive-entities", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=2000)
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--skip-bulk", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/load.json"))
    args = ap.parse_args()
    if os.environ.get("MIKO_BENCH_SCRATCH_GRAPH") != "1":
        sys.exit("this benchmark wipes the graph: run it through scripts/bench.sh (scratch server)")

    settings = Settings()
    driver = connect(settings)
    db = settings.neo4j_database
    model = SentenceTransformerEmbedder(settings.embedding_model, batch_size=64)
    base = [r for r in MikoReader(settings.data_dir / "miko") if isinstance(r, PostRecord)]
    texts = sorted({p.text for p in base} | {i.tail for p in base for i in p.intentions})
    t0 = time.perf_counter()
    vectors = model.embed(texts)
    embed_rate = len(texts) / (time.perf_counter() - t0)
    table = dict(zip(texts, vectors, strict=True))
    emb = LookupEmbedder(table, model)
    records = replicate(base, args.replicas)
    entities = entity_count(records)
    print(f"machine: {machine()}\nneo4j {neo4j_version(driver)}, git {git_rev()}")
    print(f"rows: {len(records)} posts -> {entities} entities (nodes + relationships)")
    print(f"embedding (sentence-transformers, torch fp32, CPU): {len(texts)} sentences, "
          f"{embed_rate:.0f} sentences/s")
    results: dict[str, Any] = {"machine": machine(), "entities": entities,
                               "embed_sentences_per_s": round(embed_rate)}

    # Warm-up: one replica through each writer, so that neither runs on a cold JVM.
    warm = replicate(base, 1)
    wipe(driver, db)
    init_schema(driver, db, model.model_name, model.dimension, settings.index_options)
    GraphLoader(driver, emb, db, batch_size=args.batch_size).load(warm, progress=False)
    if not args.skip_peer:
        wipe(driver, db)
        init_schema(driver, db, model.model_name, model.dimension, settings.index_options)
        asyncio.run(peer_writer(driver, db).run(graphrag_graph(warm, emb, True)))

    for with_emb in (True, False):
        tag = "with embeddings" if with_emb else "without embeddings"
        # ours
        wipe(driver, db)
        init_schema(driver, db, model.model_name, model.dimension, settings.index_options)
        loader = GraphLoader(driver, emb, db, batch_size=args.batch_size, embeddings=with_emb,
                             index_options=settings.index_options)
        t = time.perf_counter()
        summary = loader.load(records, progress=False)
        dt = time.perf_counter() - t
        ours = entities / dt
        print(f"[{tag}] miko GraphLoader: {entities} entities in {dt:.1f}s = {ours:,.0f} entities/s "
              f"(embed lookup {summary.embed_seconds:.1f}s, write {summary.write_seconds:.1f}s, "
              f"vector indexes {summary.index_seconds:.1f}s)")
        results[f"ours_{'emb' if with_emb else 'noemb'}"] = round(ours)
        if not args.skip_peer:
            wipe(driver, db)
            init_schema(driver, db, model.model_name, model.dimension, settings.index_options)
            graph = graphrag_graph(records, emb, with_emb)
            writer = peer_writer(driver, db)
            t = time.perf_counter()
            asyncio.run(writer.run(graph))
            await_indexes(driver, db)  # the same wait as our loaders
            dt = time.perf_counter() - t
            peer = entities / dt
            print(f"[{tag}] neo4j-graphrag Neo4jWriter: {dt:.1f}s = {peer:,.0f} entities/s "
                  f"-> ours online is {ours / peer:.1f}x")
            results[f"graphrag_{'emb' if with_emb else 'noemb'}"] = round(peer)
        if not args.skip_bulk:
            # ours, the bulk path (after the peer: it restarts the server, so the peer never
            # runs on a cold JVM): import files, neo4j-admin import (server stopped and started
            # again), schema and indexes; the clock runs from the first record to indexes online
            wipe(driver, db)  # the peer's own index too, which --bulk (rightly) would not drop
            init_schema(driver, db, model.model_name, model.dimension, settings.index_options)
            driver.close()
            bulk = BulkLoader(settings, emb, batch_size=args.batch_size, embeddings=with_emb)
            t = time.perf_counter()
            bs = bulk.load(records, progress=False)
            dt = time.perf_counter() - t
            driver = connect(settings)  # the store is new: a new driver (bookmarks)
            rate = entities / dt
            print(f"[{tag}] miko bulk (--bulk): {entities} entities in {dt:.1f}s = {rate:,.0f} "
                  f"entities/s (files {dt - bs.write_seconds - bs.index_seconds:.1f}s, "
                  f"import with server stop/start {bs.write_seconds:.1f}s, schema and indexes "
                  f"{bs.index_seconds:.1f}s) -> {rate / ours:.1f}x the online loader"
                  + (f", {rate / peer:.1f}x Neo4jWriter" if not args.skip_peer else ""))
            results[f"bulk_{'emb' if with_emb else 'noemb'}"] = round(rate)
        wipe(driver, db)
        init_schema(driver, db, model.model_name, model.dimension, settings.index_options)
        t = time.perf_counter()
        n = naive_load(driver, db, records, emb, with_emb, args.naive_entities)
        dt = time.perf_counter() - t
        print(f"[{tag}] naive MERGE per row: {n} entities in {dt:.1f}s = {n / dt:,.0f} entities/s")
        results[f"naive_{'emb' if with_emb else 'noemb'}"] = round(n / dt)
    wipe(driver, db)
    dump(args.out, results)
    driver.close()


if __name__ == "__main__":
    main()
