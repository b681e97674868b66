"""The bulk path for a first load: import files written as the records stream in, then the
server's own importer (``neo4j-admin database import full``), then the schema and the indexes.

For an empty database of the managed server only (it replaces the store, so it refuses a
database that holds any node or any index or constraint that is not miko's). The graph it makes
is the one the online loader (``GraphLoader``) makes from the same records: the same nodes,
labels, relationship types and properties, the embeddings as float32 arrays; a test compares
``miko stats --json`` of both on the MIKO data. Online loading stays the path for increments.

Steps, each timed in the summary: (1) read, embed (new intention tails once per normalised
tail, post texts) and write CSV files batch by batch, never holding the input in memory (only
the ids of the intentions, images and key information already written); (2) stop the server,
import, start it; (3) apply the schema (constraints, indexes, vector indexes) and wait until
every index is online.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
from neo4j import Driver, RoutingControl
from tqdm import tqdm

from kg_builder.core.errors import KGBuilderError
from kg_builder.core.models import PostRecord, Rejection, checked_scalar
from kg_builder.core.settings import Settings
from kg_builder.embeddings.base import Embedder
from kg_builder.graph.driver import connect
from kg_builder.graph.queries import admin
from kg_builder.graph.schema import (
    await_indexes,
    check_embedding_meta,
    create_vector_indexes,
    init_schema,
)
from kg_builder.graph.server import Neo4jServer
from kg_builder.inputs.readers import ReadItem
from kg_builder.loading.index_progress import index_build_bar
from kg_builder.loading.loader import LoadSummary
from kg_builder.loading.plan import (
    chunks,
    embed_checked,
    isolate,
    plan_batch,
    refused_alike,
)

FOLDER = "miko-bulk"  # under the server's import folder; removed after a successful import


class BulkLoadError(KGBuilderError):
    """The bulk path cannot run (or failed): the message says why and what to do instead."""


# --- CSV fields as neo4j-admin reads them ---------------------------------------------------

def _field(value: Any) -> str:
    """One CSV field: strings quoted (quotes doubled), numbers bare, None empty (no property)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return '"' + ";".join(str(v) for v in value) + '"'
    text = str(value)
    return '"' + text.replace('"', '""') + '"'


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    return "string"


class _Files:
    """The import files: one per (kind of row, header), opened on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._open: dict[str, IO[str]] = {}
        self.multiline: set[str] = set()
        self.nodes: dict[str, list[str]] = defaultdict(list)  # labels -> files
        self.relationships: dict[str, list[str]] = defaultdict(list)  # type -> files

    def writer(self, name: str, header: list[str], *, labels: str = "",
               rel_type: str = "") -> IO[str]:
        f = self._open.get(name)
        if f is None:
            path = self.folder / f"{name}.csv"
            f = path.open("w", encoding="utf-8", newline="")
            f.write(",".join(header) + "\n")
            self._open[name] = f
            (self.nodes[labels] if labels else self.relationships[rel_type]).append(str(path))
        return f

    def row(self, name: str, fields: list[str], header: list[str], **kind: str) -> None:
        line = ",".join(fields)
        if "\n" in line or "\r" in line:
            self.multiline.add(str(self.folder / f"{name}.csv"))
        self.writer(name, header, **kind).write(line + "\n")

    def close(self) -> None:
        for f in self._open.values():
            f.close()


DECIMALS = 9  # fixed-point digits of a vector component in the import files


def _vectors(matrix: Any) -> list[str]:
    """Float32 vectors as ``"a;b;c"`` fields, formatted by numpy as fixed-width text.

    Each component of magnitude below 9.5 is written as sign (``-`` or ``0``), one digit, a point
    and nine decimals: within 5e-10 of the float32 value, so the importer reads back that value
    or a float32 neighbour of it (cosines agree to ~1e-9). Formatting digits in bulk is ~6x
    faster than Python's shortest repr, which dominated the import files' writing (BENCHMARKS.md).
    Larger or non-finite components take the exact repr path.
    """
    m = np.asarray(matrix, dtype=np.float32)
    if m.ndim != 2 or m.size == 0 or not np.isfinite(m).all() or np.abs(m).max() >= 9.5:
        return ['"' + ";".join(row) + '"' for row in m.astype(str)]
    n, dims = m.shape
    width = DECIMALS + 4  # sign, digit, point, decimals, separator
    scaled = np.rint(np.abs(m).astype(np.float64) * 10**DECIMALS).astype(np.int64)
    text = np.empty((n, dims, width), dtype=np.uint8)
    text[:, :, 0] = np.where(np.signbit(m), ord("-"), ord("0"))
    text[:, :, 1] = scaled // 10**DECIMALS + ord("0")
    text[:, :, 2] = ord(".")
    rest = scaled % 10**DECIMALS
    for place in range(DECIMALS + 2, 2, -1):
        text[:, :, place] = rest % 10 + ord("0")
        rest //= 10
    text[:, :, width - 1] = ord(";")
    length = dims * width - 1  # without the last separator
    raw = text.reshape(n, dims * width)[:, :length].tobytes()
    return ['"' + raw[i * length:(i + 1) * length].decode("ascii") + '"' for i in range(n)]


class _BatchRows:
    """A batch's import-file rows and counts, held until the whole batch is made."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, list[str], list[str], dict[str, str]]] = []
        self.seen: dict[str, set[str]] = defaultdict(set)
        self.counts: Counter[str] = Counter()
        self.edges: Counter[str] = Counter()
        self.embed_seconds = 0.0

    def row(self, name: str, fields: list[str], header: list[str], **kind: str) -> None:
        self.rows.append((name, fields, header, kind))

    def write(self, files: _Files, seen: dict[str, set[str]], summary: LoadSummary) -> None:
        for name, fields, header, kind in self.rows:
            files.row(name, fields, header, **kind)
        for what, ids in self.seen.items():
            seen[what] |= ids
        summary.embed_seconds += self.embed_seconds
        summary.intentions_embedded += self.counts["intentions_embedded"]
        summary.posts_embedded += self.counts["posts_embedded"]
        summary.intention_nodes_written += self.counts["intention_nodes_written"]
        summary.posts_loaded += self.counts["posts_loaded"]
        summary.images += self.counts["images"]
        summary.key_info_links += self.counts["key_info_links"]
        summary.intention_edges.update(self.edges)


# --- the bulk load --------------------------------------------------------------------------

class BulkLoader:
    """Writes the import files from records, imports them, applies the schema."""

    def __init__(self, settings: Settings, embedder: Embedder, batch_size: int = 2000,
                 embeddings: bool = True) -> None:
        if not settings.managed:
            raise BulkLoadError(
                f"--bulk runs the server's own importer, so it needs the server miko manages; "
                f"MIKO_NEO4J_URI is set ({settings.neo4j_uri}): load without --bulk")
        self.settings = settings
        self.embedder = embedder
        self.embeddings = embeddings  # False: no embedding properties (benchmarks of writing)
        self.batch_size = batch_size
        self.server = Neo4jServer(settings)
        self.database = settings.neo4j_database

    def check_empty(self, driver: Driver) -> None:
        """Refuse unless the database holds nothing the import would destroy."""
        records, _, _ = driver.execute_query(
            admin.count_foreign_nodes(), database_=self.database, routing_=RoutingControl.READ)
        if (n := int(records[0]["n"])) > 0:
            raise BulkLoadError(
                f"the database {self.database!r} holds {n:,} nodes: --bulk replaces the whole "
                "store, so it is for a first load into an empty database. Load without --bulk "
                "to add to this graph (loading is idempotent), or point MIKO_NEO4J_DATA_DIR at "
                "a new folder for a new database")
        names: list[str] = []
        for statement in (admin.index_names(), admin.constraint_names()):
            records, _, _ = driver.execute_query(
                statement, database_=self.database, routing_=RoutingControl.READ)
            names += [r["name"] for r in records]
        ours = (set(admin.our_indexes()) | set(admin.our_constraints())
                | set(admin.LEGACY_VECTOR_INDEXES))
        foreign = sorted(n for n in names if n not in ours)
        if foreign:
            raise BulkLoadError(
                f"the database {self.database!r} has indexes or constraints that are not "
                f"miko's ({', '.join(foreign[:5])}): --bulk would drop them. Load without --bulk")
        check_embedding_meta(driver, self.database, self.embedder.model_name,
                             self.embedder.dimension)

    def load(self, items: Iterable[ReadItem], progress: bool | None = None,
             total: int | None = None,
             after_writes: Callable[[], object] | None = None) -> LoadSummary:
        """Import every record into the empty database, then build the schema. ``after_writes``
        runs once the import and the constraints are in, before the vector indexes are built."""
        if self.database != "neo4j":
            raise BulkLoadError(f"--bulk imports into the default database `neo4j` of Neo4j "
                                f"Community, not {self.database!r}: load without --bulk")
        with connect(self.settings) as driver:
            self.check_empty(driver)
        summary = LoadSummary(deferred_indexes=True)
        started = time.perf_counter()
        folder = self.server.data / "import" / FOLDER
        shutil.rmtree(folder, ignore_errors=True)  # ours: a failed earlier run's files
        folder.mkdir(parents=True)
        files = _Files(folder)
        seen: dict[str, set[str]] = defaultdict(set)  # written node ids per kind
        bar = tqdm(total=total, unit="post", desc="writing import files", file=sys.stderr,
                   disable=(not sys.stderr.isatty()) if progress is None else not progress)
        try:
            for chunk in chunks(items, self.batch_size):
                records: list[PostRecord] = []
                for item in chunk:
                    if isinstance(item, Rejection):
                        summary.rejected.append(item)
                    else:
                        records.append(item)
                summary.posts_read += len(chunk)
                if records:
                    self._write_checked(records, files, seen, summary)
                bar.update(len(chunk))
        finally:
            bar.close()
            files.close()
        t = time.perf_counter()
        self._import(files)
        summary.write_seconds = time.perf_counter() - t
        t = time.perf_counter()
        # A new driver: the store is new, so bookmarks of transactions before it mean nothing
        # to it (a driver used before would wait for them in vain). Drivers of other
        # processes (a running API) need a restart for the same reason.
        with connect(self.settings) as driver:
            init_schema(driver, self.database, self.embedder.model_name,
                        self.embedder.dimension, self.settings.index_options,
                        vector_indexes=after_writes is None)
            if after_writes is not None:
                try:
                    await_indexes(driver, self.database)  # the constraints the hook reads by
                    after_writes()
                finally:
                    create_vector_indexes(driver, self.database, self.embedder.dimension,
                                          self.settings.index_options)
            with index_build_bar(progress) as report:
                await_indexes(driver, self.database, progress=report)
        summary.index_seconds = time.perf_counter() - t
        shutil.rmtree(folder, ignore_errors=True)
        summary.seconds = time.perf_counter() - started
        return summary

    # -- files -------------------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> Any:
        return embed_checked(self.embedder, texts)

    def _write_checked(self, records: list[PostRecord], files: _Files,
                       seen: dict[str, set[str]], summary: LoadSummary) -> None:
        """Write a batch's rows; when the embedder or a record's rows fail (before anything of
        the batch is written), split it to find the records at fault (``plan.isolate``),
        reject those with their place and write the rest. Stop the load when every record of
        the batch was refused for the same reason (then it is not about the data)."""

        def attempt(part: list[PostRecord]) -> None:
            rows = self._batch_rows(part, seen)  # may fail: nothing of ``part`` written yet
            try:
                rows.write(files, seen, summary)
            except Exception as exc:  # the files, not the records: never split over
                raise BulkLoadError(f"cannot write the import files under {files.folder}: "
                                    f"{type(exc).__name__}: {exc}") from exc

        before = len(summary.rejected)
        refusals = isolate(records, attempt, summary.rejected,
                           "the embedder or the import files")
        if reason := refused_alike(records, refusals):
            del summary.rejected[before:]
            raise BulkLoadError(f"{reason}; nothing was imported")

    def _batch_rows(self, records: list[PostRecord], seen: dict[str, set[str]]) -> _BatchRows:
        """Every import-file row of a batch (its plan, ``plan.plan_batch``), embedded, made
        before any is written (so a batch that fails leaves nothing behind and can be split)."""
        out = _BatchRows()
        if not records:
            return out
        plan = plan_batch(records)
        t0 = time.perf_counter()
        # Intention nodes new to this load, their tails embedded once per normalised tail, as
        # the online loader does.
        nodes = [node for iid, node in plan.nodes.items() if iid not in seen["intention"]]
        groups = plan.tails_to_embed(node.id for node in nodes)
        vector_of: dict[str, str] = defaultdict(str)  # "": no embedding property
        post_vectors = [""] * len(records)
        if self.embeddings:
            if groups:
                for group, vec in zip(groups, _vectors(self._embed([g.text for g in groups])),
                                      strict=True):
                    for iid in group.ids:
                        vector_of[iid] = vec
            post_vectors = _vectors(self._embed([r.text for r in records]))
            out.counts["intentions_embedded"] += len(groups)
            out.counts["posts_embedded"] += len(records)
        out.embed_seconds = time.perf_counter() - t0

        for node in nodes:
            out.row(f"intentions-{node.relation.label}",
                    [_field(node.id), _field(node.relation.value), _field(node.text),
                     _field(node.tail), vector_of[node.id]],
                    ["id:ID(Intention)", "relation", "text", "tail", "embedding:float[]"],
                    labels=f"Intention:{node.relation.label}")
            out.seen["intention"].add(node.id)
        out.counts["intention_nodes_written"] += len(nodes)

        for rec, vec in zip(records, post_vectors, strict=True):
            extra = sorted(rec.extra.items())
            for _, value in extra:  # one value the importer cannot take would fail the import
                checked_scalar(value)
            name = "posts" + "".join(f"-{k}.{_type_of(v)}" for k, v in extra)
            header = ["id:ID(Post)", "text", "source", "split", "benchmark_labels:long[]",
                      "has_image:boolean", "embedding:float[]",
                      *(f"{k}:{_type_of(v)}" for k, v in extra)]
            labels_field = (_field(list(rec.benchmark_labels))
                            if rec.benchmark_labels is not None else "")
            out.row(name, [_field(rec.id), _field(rec.text), _field(rec.source),
                           _field(rec.split), labels_field, _field(rec.image is not None), vec,
                           *(_field(v) for _, v in extra)], header, labels="Post")
            out.counts["posts_loaded"] += 1
        for rec, img in plan.images():
            if img.key not in seen["image"] and img.key not in out.seen["image"]:
                out.row("images", [_field(img.key), _field(img.file), _field(img.sha256)],
                        ["id:ID(Image)", "file", "sha256"], labels="Image")
                out.seen["image"].add(img.key)
            out.row("has-image", [_field(rec.id), _field(img.key), _field(img.description)],
                    [":START_ID(Post)", ":END_ID(Image)", "description"], rel_type="HAS_IMAGE")
            out.counts["images"] += 1
        for link in plan.key_links:
            label = link.kind.label
            if link.name not in seen[label] and link.name not in out.seen[label]:
                out.row(f"key-{label}", [_field(link.name), _field(link.display)],
                        [f"name:ID({label})", "display"], labels=label)
                out.seen[label].add(link.name)
            out.row(f"has-{label}", [_field(link.post), _field(link.name)],
                    [":START_ID(Post)", f":END_ID({label})"], rel_type=link.kind.rel_type)
            out.counts["key_info_links"] += 1
        for edge in plan.edges:
            out.row(f"edges-{edge.relation.rel_type}",
                    [_field(edge.post), _field(edge.intention), _field(edge.text),
                     _field(edge.label), _field(list(edge.label_votes)), _field(edge.source),
                     _field(edge.model), _field(edge.prompt_version)],
                    [":START_ID(Post)", ":END_ID(Intention)", "text", "label:long",
                     "label_votes:long[]", "source", "model", "prompt_version"],
                    rel_type=edge.relation.rel_type)
            out.edges[edge.relation.value] += 1
        return out

    # -- import ------------------------------------------------------------------------------
    def _import(self, files: _Files) -> None:
        args = ["database", "import", "full", self.database, "--overwrite-destination=true",
                "--bad-tolerance=0", "--array-delimiter=;", "--strict=true",
                f"--report-file={files.folder / 'import.report'}"]
        args += [f"--nodes={labels}={','.join(paths)}" for labels, paths in files.nodes.items()]
        args += [f"--relationships={rel}={','.join(paths)}"
                 for rel, paths in files.relationships.items()]
        if files.multiline:
            args += ["--multiline-fields-format=v2",
                     f"--multiline-fields={','.join(sorted(files.multiline))}"]
        self.server.stop()
        proc = self.server._java("Neo4jAdminCommand", *args, timeout=24 * 3600)
        started = self.server.start()
        if proc.returncode != 0:
            raise BulkLoadError(
                f"neo4j-admin import failed (exit {proc.returncode}); the import files are kept "
                f"in {files.folder}: {(proc.stdout + proc.stderr)[-2000:]}")
        if not started:
            raise BulkLoadError("the server did not restart after the import")
