"""Score every intention edge of the graph with the critic, from the vectors the graph holds.

Used after every load and ingest (only the edges that load wrote, or that were never scored by
this critic version) and by ``miko critic score`` (the same, or every edge with ``--all``).
Pages go by post id, so memory stays bounded at any graph size.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from neo4j import Driver
from tqdm import tqdm

from kg_builder.core.errors import KGBuilderError
from kg_builder.graph.paging import post_pages
from kg_builder.graph.queries import quality as q
from kg_builder.graph.queries.write import Rows
from kg_builder.graph.schema import recorded_embedding_model
from kg_builder.quality.critic import Critic


@dataclass
class ScoreSummary:
    critic: str
    version: str
    posts: int = 0
    edges: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"critic": self.critic, "version": self.version, "posts": self.posts,
                "edges": self.edges, "seconds": round(self.seconds, 2),
                "edges_per_s": round(self.edges / self.seconds) if self.seconds else None}

    def describe(self) -> list[str]:
        return [f"critic {self.critic} {self.version}: {self.edges:,} edges of {self.posts:,} "
                f"posts scored in {self.seconds:.1f}s"]


def score_graph(driver: Driver, database: str, critic: Critic, *, rescore_all: bool = False,
                page_posts: int = 1000, progress: bool | None = None,
                model: tuple[str, int] | None = None) -> ScoreSummary:
    """Score the edges that need it. ``model``: the graph's embedding model and dimension when
    the caller has just checked them (a load); otherwise read from the graph."""
    recorded = model or recorded_embedding_model(driver, database)
    if recorded is None:
        raise KGBuilderError("the graph records no embedding model yet: load posts first "
                             "(`miko load-release`), then score")
    critic.check_model(*recorded)
    summary = ScoreSummary(critic.name, critic.version)
    started = time.perf_counter()
    bar = tqdm(unit="edge", desc="scoring", file=sys.stderr,
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    params = {"version": critic.version, "all": rescore_all, "limit": page_posts}
    for page in post_pages(driver, database, q.edges_to_score_page(), params, key="post"):
        summary.posts += len(page)
        rows_with_edges = [row for row in page if row["edges"]]
        if not rows_with_edges:
            continue
        # Each post's vector is converted once and repeated by index, not once per edge.
        posts = np.asarray([row["embedding"] for row in rows_with_edges], dtype=np.float32)
        owner = np.repeat(np.arange(len(rows_with_edges)),
                          [len(row["edges"]) for row in rows_with_edges])
        edges = [edge for row in rows_with_edges for edge in row["edges"]]
        ids = [edge["id"] for edge in edges]
        relations = [edge["relation"] for edge in edges]
        intentions = {edge["intention"] for edge in edges}
        tails = np.asarray([edge["embedding"] for edge in edges], dtype=np.float32)
        scores = critic.score(posts[owner], tails, relations)
        rows = Rows({"id": i, "typicality": round(float(s), 6)}
                    for i, s in zip(ids, scores, strict=True))
        driver.execute_query(q.set_edge_typicality(), {"rows": rows, "critic": critic.name,
                                                       "version": critic.version},
                             database_=database)
        driver.execute_query(q.set_intention_typicality(), {"ids": sorted(intentions)},
                             database_=database)
        summary.edges += len(ids)
        bar.update(len(ids))
    bar.close()
    summary.seconds = time.perf_counter() - started
    return summary
