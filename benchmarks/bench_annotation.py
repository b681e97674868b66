"""Time of the Label Studio round trip for 1,000 posts: `miko annotate export` (sample, build the
tasks, import them into Label Studio) and `miko annotate import` (read every annotation, write
votes and aggregates onto the edges), against a real local Label Studio.

    ./scripts/bench.sh benchmarks/bench_annotation.py [--posts 1000] [--png docs/annotation-figure4.png]

The graph: the MIKO train posts loaded `--replicas` times with distinct post ids into the bench
server's scratch graph. Two scripted annotators judge every intention through Label Studio's API
(not timed as miko's cost; printed apart): the first gives 1 to the intentions MIKO's annotators
kept and 0 to the others, the second agrees except on a seeded 15% where it picks another score.
The chart drawn from their votes demonstrates the tooling; it is not a human judgement.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import dump, git_rev, machine  # noqa: E402
from kg_builder.annotation.client import LabelStudioClient  # noqa: E402
from kg_builder.annotation.interface import choice_field, edge_field, text_field  # noqa: E402
from kg_builder.annotation.server import LocalLabelStudio  # noqa: E402
from kg_builder.annotation.service import chart, export_sample, import_annotations, report  # noqa: E402
from kg_builder.core.models import PostRecord  # noqa: E402
from kg_builder.core.relations import Relation  # noqa: E402
from kg_builder.core.settings import Settings  # noqa: E402
from kg_builder.embeddings import load_embedder  # noqa: E402
from kg_builder.graph.driver import connect  # noqa: E402
from kg_builder.graph.schema import await_indexes, init_schema  # noqa: E402
from kg_builder.graph.scratch import scratch_problem  # noqa: E402
from kg_builder.inputs.readers import MikoReader  # noqa: E402
from kg_builder.loading.loader import GraphLoader  # noqa: E402

SECOND = "annotator2@miko.local"


def load_graph(settings: Settings, replicas: int) -> Any:
    driver = connect(settings)
    problem = scratch_problem(driver, settings.neo4j_database)
    if problem:
        sys.exit(f"refusing to wipe this server: {problem}; run via ./scripts/bench.sh")
    db = settings.neo4j_database
    with driver.session(database=db) as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
    embedder = load_embedder(settings)
    init_schema(driver, db, embedder.model_name, embedder.dimension)
    base = [r for r in MikoReader(settings.data_dir / "miko" / "train.json")
            if isinstance(r, PostRecord) and r.intentions]
    records = [r.model_copy(update={"id": f"{r.id}#r{n}"}) for n in range(replicas) for r in base]
    started = time.perf_counter()
    GraphLoader(driver, embedder, db).load(records, progress=False)
    await_indexes(driver, db)
    print(f"graph: {len(records):,} posts with intentions loaded in "
          f"{time.perf_counter() - started:.0f}s (not part of the figures)")
    return driver


def annotate(client: LabelStudioClient, driver: Any, db: str, project: int) -> tuple[int, float]:
    """Two scripted annotators judge every task through Label Studio's API."""
    ls = client.ls
    second = next((int(u.id) for u in ls.users.list() if u.email == SECOND), None)
    if second is None:
        second = int(ls.users.create(email=SECOND, username="annotator2").id)
    rng = random.Random(0)
    posted = 0
    started = time.perf_counter()
    for task in client.tasks(project, with_annotations=True):
        if task["annotations"]:
            continue
        data = task["data"]
        edges = [(rel, data[edge_field(rel)]) for rel in Relation if data.get(edge_field(rel))]
        labels = {r["intention"]: r["label"] for r in driver.execute_query(
            "UNWIND $ids AS id MATCH (:Post {id: $post})-[r]->(i:Intention {id: id}) "
            "RETURN i.id AS intention, r.label AS label", ids=[e[1] for e in edges],
            post=data["post_id"], database_=db).records}
        first = {rel: 1 if labels.get(i) == 1 else 0 for rel, i in edges}
        other = {rel: (rng.choice([s for s in (1, 0, -1) if s != v]) if rng.random() < 0.15 else v)
                 for rel, v in first.items()}
        for who, scores in ((None, first), (second, other)):
            result = [{"from_name": choice_field(rel), "to_name": text_field(rel), "type": "choices",
                       "value": {"choices": [str(s)]}} for rel, s in scores.items()]
            extra = {} if who is None else {"completed_by": who}
            ls.annotations.create(id=task["id"], result=result, **extra)
            posted += 1
    return posted, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=1000)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--port", type=int, default=8091)
    ap.add_argument("--png", type=Path, default=Path("docs/annotation-figure4.png"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/annotation.json"))
    args = ap.parse_args()
    settings = Settings().model_copy(update={
        "label_studio_url": None, "label_studio_port": args.port,
        "label_studio_data_dir": Settings().cache_dir / "label-studio-bench"})
    print(f"machine: {machine()}; code {git_rev()}")
    driver = load_graph(settings, args.replicas)
    db = settings.neo4j_database
    local = LocalLabelStudio(settings)
    started = time.perf_counter()
    local.start(progress=print)
    print(f"Label Studio on {local.url}: ready in {time.perf_counter() - started:.0f}s")
    with LabelStudioClient(local.endpoint()) as client:
        title = f"bench {args.posts} {int(time.time())}"
        started = time.perf_counter()
        exported = export_sample(driver, db, client, sample=args.posts, seed=0, title=title)
        export_s = time.perf_counter() - started
        print(f"export: {exported.tasks:,} tasks ({exported.posts:,} posts) into a new project in "
              f"{export_s:.1f}s = {exported.tasks / export_s:,.0f} tasks/s")
        started = time.perf_counter()
        again = export_sample(driver, db, client, sample=args.posts, seed=0, title=title)
        reexport_s = time.perf_counter() - started
        print(f"export again (same sample, nothing added: {again.added}): {reexport_s:.1f}s")
        posted, annotate_s = annotate(client, driver, db, exported.project_id)
        print(f"scripted annotators: {posted:,} annotations posted through Label Studio's API in "
              f"{annotate_s:.0f}s (Label Studio's cost, not miko's)")
        started = time.perf_counter()
        imported = import_annotations(driver, db, client, exported.project_id)
        import_s = time.perf_counter() - started
        print(f"import: {imported.read:,} annotations -> {imported.annotations:,} judgements on "
              f"{imported.intentions:,} edges in {import_s:.1f}s = "
              f"{imported.annotations / import_s:,.0f} judgements/s")
        started = time.perf_counter()
        noop = import_annotations(driver, db, client, exported.project_id)
        reimport_s = time.perf_counter() - started
        print(f"import again (nothing changed: {noop.changed} edges written): {reimport_s:.1f}s")
    data = report(driver, db)
    chart(data, args.png)
    print(f"report: {data['annotated_intentions']:,} intentions, pairwise agreement "
          f"{100 * data['agreement']['pairwise']:.1f}%, alpha {data['agreement']['alpha']:.2f}; "
          f"chart {args.png}")
    driver.close()
    dump(args.out, {"machine": machine(), "code": git_rev(), "posts": exported.posts,
                    "tasks": exported.tasks, "export_s": round(export_s, 2),
                    "reexport_s": round(reexport_s, 2), "annotations": imported.read,
                    "judgements": imported.annotations, "import_s": round(import_s, 2),
                    "reimport_s": round(reimport_s, 2), "annotate_api_s": round(annotate_s, 1),
                    "report": data})


if __name__ == "__main__":
    main()
