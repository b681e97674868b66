"""Batched, idempotent loading of ``PostRecord``s into Neo4j, with embeddings.

Per batch of posts: work out which intentions and posts already carry an embedding in the graph,
embed only the new ones (tails of intentions, deduplicated; post texts), then write posts, images,
key information, intention nodes and relation-typed edges with one ``UNWIND`` statement per
label or type, all in one transaction. Loading the same input twice leaves the same graph.
The stages overlap: the next batch is read and embedded while the current one commits.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from neo4j import Driver, ManagedTransaction
from neo4j.exceptions import (
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)
from tqdm import tqdm

from kg_builder.core.errors import LoadInterruptedError
from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.models import PostRecord, Rejection
from kg_builder.core.relations import Relation
from kg_builder.core.settings import IndexOptions
from kg_builder.embeddings.base import Embedder
from kg_builder.graph.queries import admin, read, write
from kg_builder.graph.queries.write import Rows
from kg_builder.graph.schema import (
    await_indexes,
    check_embedding_meta,
    create_vector_indexes,
    drop_vector_indexes,
)
from kg_builder.inputs.readers import ReaderStats, ReadItem
from kg_builder.loading.index_progress import index_build_bar
from kg_builder.loading.plan import (
    SystemicRefusal,
    about_the_records,
    chunks,
    embed_checked,
    isolate,
    plan_batch,
    refusal_of,
    refused_alike,
    systemic_code,
)


@dataclass
class LoadSummary:
    """What a load did, for the CLI's summary and for scripts (``as_dict``)."""

    posts_read: int = 0
    posts_loaded: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    intention_edges: Counter[str] = field(default_factory=Counter)
    intention_nodes_written: int = 0
    intentions_embedded: int = 0
    posts_embedded: int = 0
    images: int = 0
    key_info_links: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    write_seconds: float = 0.0
    index_seconds: float = 0.0
    deferred_indexes: bool = False
    stale_intentions_removed: int = 0
    vectors: str = ""  # with --vectors: where the precomputed vectors came from, and how many

    def as_dict(self) -> dict[str, Any]:
        return {
            "posts_read": self.posts_read,
            "posts_loaded": self.posts_loaded,
            "rejected": len(self.rejected),
            "intention_edges": dict(self.intention_edges),
            "intention_nodes_written": self.intention_nodes_written,
            "intentions_embedded": self.intentions_embedded,
            "posts_embedded": self.posts_embedded,
            "images": self.images,
            "key_info_links": self.key_info_links,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "write_seconds": round(self.write_seconds, 3),
            "index_seconds": round(self.index_seconds, 3),
            "deferred_indexes": self.deferred_indexes,
            "stale_intentions_removed": self.stale_intentions_removed,
            **({"vectors": self.vectors} if self.vectors else {}),
        }

    def describe(self, input_stats: ReaderStats) -> list[str]:
        """The summary (and what the reader saw) as lines for a terminal."""
        s, q = self, input_stats
        rebuilt = f", vector indexes rebuilt in {s.index_seconds:.1f}s" if s.deferred_indexes else ""
        return [
            f"Loaded {s.posts_loaded} posts of {s.posts_read} read ({len(s.rejected)} rejected) in "
            f"{s.seconds:.1f}s (embedding {s.embed_seconds:.1f}s, writing {s.write_seconds:.1f}s"
            f"{rebuilt})",
            f"  intention edges: {sum(s.intention_edges.values())} "
            f"{dict(sorted(s.intention_edges.items()))}",
            f"  new intention nodes: {s.intention_nodes_written}; sentences embedded: "
            f"{s.intentions_embedded} tails, {s.posts_embedded} posts",
            f"  images linked: {s.images}; key-information links: {s.key_info_links}; "
            f"stale intentions removed: {s.stale_intentions_removed}",
            f"  input: posts by split {dict(q.posts_by_split)}; duplicate posts merged "
            f"{q.duplicate_posts} ({q.duplicate_label_conflicts} with differing labels); "
            f"image names shared across splits {q.shared_image_names}; missing relations "
            f"{dict(q.missing_relations)}; empty intentions {dict(q.empty_intentions)}; "
            f"template mismatches {dict(q.template_mismatches)}",
            *([f"  {s.vectors}"] if s.vectors else []),
        ]


@dataclass
class _Prepared:
    """A batch ready to write: its records and the rows of each statement, embedded."""

    records: list[PostRecord]
    post_rows: list[dict[str, Any]]
    image_rows: list[dict[str, Any]]
    key_rows: dict[KeyInfoKind, list[dict[str, str]]]
    node_rows: dict[Relation, list[dict[str, Any]]]
    edges: dict[Relation, list[dict[str, Any]]]
    prune_rows: list[dict[str, Any]]
    new_ids: list[str]
    tails_embedded: int
    posts_embedded: int
    embed_seconds: float


class GraphLoader:
    """Writes records into the graph. The driver and the embedder are passed in."""

    def __init__(
        self,
        driver: Driver,
        embedder: Embedder,
        database: str = "neo4j",
        batch_size: int = 2000,
        embeddings: bool = True,
        defer_vector_indexes: bool | None = None,
        index_options: IndexOptions | None = None,
        model_checked: bool = False,
    ) -> None:
        """``model_checked``: the caller has just applied the schema (``init_schema``), which
        checked the graph's embedding model against ``embedder``'s: not read again."""
        self.driver = driver
        self.model_checked = model_checked
        self.embedder = embedder
        self.database = database
        self.batch_size = batch_size
        self.embeddings = embeddings
        self.defer_vector_indexes = defer_vector_indexes
        self.index_options = index_options
        self._started_empty = False
        self._embedded: set[str] = set()

    def _build_deferred(self, dropped: list[str], failure: BaseException | None,
                        summary: LoadSummary, progress: bool | None) -> None:
        if not dropped or not (failure is None or isinstance(failure, SystemicRefusal)):
            return
        # (After a systemic refusal the server still answers: leave no index missing.)
        # Populating afterwards is faster than maintaining them row by row: Neo4j builds
        # the indexes in parallel. The load is done when they are online.
        t = time.perf_counter()
        create_vector_indexes(self.driver, self.database, self.embedder.dimension,
                              self.index_options)
        with index_build_bar(progress) as report:
            await_indexes(self.driver, self.database, progress=report)
        summary.index_seconds = time.perf_counter() - t
        summary.deferred_indexes = True

    def load(
        self, items: Iterable[ReadItem], progress: bool | None = None, total: int | None = None,
        after_writes: Callable[[], object] | None = None,
    ) -> LoadSummary:
        """Load every record; rejections are collected, never raised.

        ``after_writes`` runs once every record is written and before deferred vector indexes
        are built (the critic's scores are then indexed with the vectors, not re-indexed after).
        """
        if not self.model_checked:
            check_embedding_meta(
                self.driver, self.database, self.embedder.model_name, self.embedder.dimension
            )
        summary = LoadSummary()
        started = time.perf_counter()
        defer = self.defer_vector_indexes
        if defer is None:  # auto: a first load into an empty graph builds its indexes afterwards
            counted, _, _ = self.driver.execute_query(
                admin.count_nodes("Post"), database_=self.database)
            defer = counted[0]["n"] == 0
        counted, _, _ = self.driver.execute_query(
            admin.count_nodes("Intention"), database_=self.database)
        self._started_empty = counted[0]["n"] == 0
        self._embedded = set()
        dropped = drop_vector_indexes(self.driver, self.database) if defer else []
        bar = tqdm(
            total=total, unit="post", desc="loading", file=sys.stderr,
            disable=(not sys.stderr.isatty()) if progress is None else not progress,
        )
        failure: BaseException | None = None
        # Overlapped: batch N+1 is read, checked against the graph and embedded while batch N's
        # transaction runs on the writer thread. The summary is touched by one of them at a
        # time (the main thread only after waiting for the write in flight).
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="miko-load-write")
        pending: Future[list[PostRecord] | None] | None = None
        try:
            for chunk in chunks(items, self.batch_size):
                records: list[PostRecord] = []
                rejected: list[Rejection] = []
                for item in chunk:
                    if isinstance(item, Rejection):
                        rejected.append(item)
                    else:
                        records.append(item)
                batch = self._prepare_or_none(records)
                if pending is not None:
                    refused, pending = pending.result(), None
                    if refused is not None:
                        # Find the records at fault with nothing else running, then prepare
                        # this batch again (it counted on the refused batch's intentions).
                        if batch is not None:
                            self._embedded.difference_update(batch.new_ids)
                        self._load_checked(refused, summary)
                        batch = self._prepare_or_none(records)
                summary.rejected.extend(rejected)
                summary.posts_read += len(chunk)
                if records:
                    pending = writer.submit(self._write_or_refused, batch, records, summary)
                bar.update(len(chunk))
            if pending is not None and (refused := pending.result()) is not None:
                self._load_checked(refused, summary)
        except (ServiceUnavailable, SessionExpired, TransientError, SystemicRefusal) as exc:
            failure = exc
        finally:
            writer.shutdown(wait=True, cancel_futures=True)
            bar.close()
            try:
                if after_writes is not None and failure is None and not sys.exc_info()[0]:
                    after_writes()
            finally:
                self._build_deferred(dropped, failure, summary, progress)
        summary.seconds = time.perf_counter() - started
        if failure is not None:
            committed = f"{summary.posts_loaded} posts were committed, {summary.posts_read} read"
            rerun = "rerun the same command: loading is idempotent, so nothing is duplicated"
            if isinstance(failure, SystemicRefusal):
                raise LoadInterruptedError(
                    f"The load stopped: {failure}. {committed}. Fix the cause "
                    f"(server settings, access, the embedding model) and {rerun}",
                    summary) from failure
            if dropped:
                rerun += " and the vector indexes dropped for this load are rebuilt"
            raise LoadInterruptedError(
                f"Neo4j stopped answering during the load ({type(failure).__name__}: {failure}). "
                f"{committed}. Start the server again (`miko neo4j start`) and {rerun}",
                summary) from failure
        return summary

    def _prepare_or_none(self, records: list[PostRecord]) -> _Prepared | None:
        """The batch prepared, or None when the embedder refuses it (its records are then
        sorted out by ``_load_checked``)."""
        if not records:
            return None
        try:
            return self._prepare(records)
        except Exception as exc:
            if about_the_records(exc):
                return None
            raise

    def _write_or_refused(self, batch: _Prepared | None, records: list[PostRecord],
                          summary: LoadSummary) -> list[PostRecord] | None:
        """Write a prepared batch (on the writer thread). None when written; the records when
        the graph (or, before, the embedder) refused them, for ``_load_checked`` to sort out."""
        if batch is None:
            return records
        try:
            self._write(batch, summary)
        except Exception as exc:
            if (code := systemic_code(exc)) is not None:
                raise SystemicRefusal(f"the graph refused the load ({code}: "
                                      f"{refusal_of(exc)[1][:300]})") from exc
            if about_the_records(exc):
                return records
            raise
        return None

    def _load_checked(self, records: list[PostRecord], summary: LoadSummary) -> None:
        """Load a batch, isolating the records at fault; stop the load when the refusal is not
        about the records (a systemic code, or every record of the batch refused alike)."""
        before = len(summary.rejected)
        refusals = isolate(records, lambda part: self._load_batch(part, summary),
                           summary.rejected, "the graph or the embedder")
        if reason := refused_alike(records, refusals):
            del summary.rejected[before:]  # not the data's fault: nothing is blamed on it
            raise SystemicRefusal(reason)

    def _embed(self, texts: list[str]) -> Any:
        return embed_checked(self.embedder, texts)

    # -- one batch -----------------------------------------------------------------------
    def _load_batch(self, records: list[PostRecord], summary: LoadSummary) -> None:
        self._write(self._prepare(records), summary)

    def _prepare(self, records: list[PostRecord]) -> _Prepared:
        """Everything a batch's transaction needs: the batch's plan (``plan.plan_batch``), which
        of its intentions and posts the graph (or this load) already embedded, the new ones
        embedded, the rows of every statement."""
        plan = plan_batch(records)
        nodes = plan.nodes
        # Intentions embedded earlier in this load (or prepared for a batch still being
        # written) are known locally; the graph is asked only about the rest (and not at all
        # when the load started on an empty graph).
        have_int: set[str] = {iid for iid in nodes if iid in self._embedded}
        have_post: dict[str, str] = {}
        if self.embeddings and not self._started_empty:
            with self.driver.session(database=self.database) as session:
                unknown = [iid for iid in nodes if iid not in have_int]
                have_int |= {
                    r["id"] for r in session.run(
                        read.existing_embedded_intentions(), ids=unknown
                    )
                }
                have_post = {
                    r["id"]: r["text"] for r in session.run(
                        read.existing_embedded_posts(), ids=[r.id for r in records]
                    )
                }

        t0 = time.perf_counter()
        # Embed the tails of new intentions, once per distinct normalised tail.
        new_ids = [iid for iid in nodes if iid not in have_int]
        groups = plan.tails_to_embed(new_ids)
        int_vectors: dict[str, list[float]] = {}
        tails_embedded = posts_embedded = 0
        if groups and self.embeddings:
            vectors = self._embed([g.text for g in groups])
            for group, vec in zip(groups, vectors, strict=True):
                as_list = vec.tolist()
                for iid in group.ids:
                    int_vectors[iid] = as_list
            tails_embedded = len(groups)
        post_vectors: dict[str, list[float]] = {}
        if self.embeddings:
            todo = [r for r in records if have_post.get(r.id) != r.text]
            if todo:
                vectors = self._embed([r.text for r in todo])
                post_vectors = {r.id: v.tolist() for r, v in zip(todo, vectors, strict=True)}
                posts_embedded = len(todo)
        embed_seconds = time.perf_counter() - t0
        if self.embeddings:
            self._embedded.update(new_ids)  # the next batch need not embed them again

        post_rows = [{
            "id": r.id, "text": r.text, "source": r.source, "split": r.split,
            "benchmark_labels": r.benchmark_labels, "extra": r.extra,
            "embedding": post_vectors.get(r.id),
        } for r in records]
        image_rows = [{
            "post": r.id, "id": image.key, "file": image.file, "sha256": image.sha256,
            "description": image.description,
        } for r, image in plan.images()]
        key_rows: dict[KeyInfoKind, list[dict[str, str]]] = defaultdict(list)
        for link in plan.key_links:
            key_rows[link.kind].append({"post": link.post, "name": link.name,
                                        "display": link.display})
        node_rows: dict[Relation, list[dict[str, Any]]] = defaultdict(list)
        for node in nodes.values():
            node_rows[node.relation].append({
                "id": node.id, "text": node.text, "tail": node.tail,
                "embedding": int_vectors.get(node.id),
            })
        edges = {relation: [e.row() for e in rows]
                 for relation, rows in plan.edges_by_relation().items()}
        return _Prepared(records, post_rows, image_rows, key_rows, node_rows, edges, plan.prunes,
                         new_ids, tails_embedded, posts_embedded, embed_seconds)

    def _write(self, batch: _Prepared, summary: LoadSummary) -> None:
        """The batch's one write transaction, then its counts (only once it has committed)."""
        pruned: list[int] = []

        def work(tx: ManagedTransaction) -> None:
            tx.run(write.merge_posts(), rows=Rows(batch.post_rows)).consume()
            if batch.image_rows:
                tx.run(write.merge_images(), rows=Rows(batch.image_rows)).consume()
            for kind, rows in batch.key_rows.items():
                tx.run(write.merge_key_info(kind), rows=Rows(rows)).consume()
            for relation, rows in batch.node_rows.items():
                tx.run(write.merge_intentions(relation), rows=Rows(rows),
                       relation=relation.value).consume()
            for relation, rows in batch.edges.items():
                tx.run(write.merge_intention_edges(relation), rows=Rows(rows)).consume()
            if batch.prune_rows and not self._started_empty:
                record = tx.run(write.prune_stale_intention_edges(),
                                rows=Rows(batch.prune_rows)).single()
                pruned.append(int(record["orphans"]) if record else 0)

        t1 = time.perf_counter()
        try:
            with self.driver.session(database=self.database) as session:
                session.execute_write(work)
        except BaseException:
            self._embedded.difference_update(batch.new_ids)  # not written after all
            raise
        summary.write_seconds += time.perf_counter() - t1
        summary.embed_seconds += batch.embed_seconds
        summary.intentions_embedded += batch.tails_embedded
        summary.posts_embedded += batch.posts_embedded
        summary.posts_loaded += len(batch.records)
        summary.stale_intentions_removed += sum(pruned[-1:])
        summary.images += len(batch.image_rows)
        summary.key_info_links += sum(len(v) for v in batch.key_rows.values())
        summary.intention_nodes_written += len(batch.new_ids)
        for relation, rows in batch.edges.items():
            summary.intention_edges[relation.value] += len(rows)
