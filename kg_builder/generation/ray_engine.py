"""`miko build --engine ray`: the stages as a Ray Data pipeline across worker processes.

The driver reads and checks the input (rejections are counted and reported as always) and
stages the valid posts as JSON lines in the run folder; Ray Data reads them back in blocks and
``map_batches`` sends each batch to one of ``workers`` actors. Each actor is the single-process
pipeline — the same stages, the same LLM client with its adaptive concurrency over every
configured endpoint (its own round-robin start, so the actors spread over the endpoints), the
same answer cache — and answers each post with ``Pipeline.outcome``. A second ``map_batches``
stage embeds what the loader will embed (each built post's text and its intentions' tails) on
``embed_workers`` actors into ``<out>.run/vectors.sqlite`` (`miko load --vectors` reads it back
instead of running the model; texts already there are not embedded again). The driver writes the
built records and the dead letters to the same files as the single-process engine, and sums the
actors' model calls, call failures and concurrency (per actor and endpoint) into the summary.

Same semantics as the single process: posts in = built + dead-lettered; every answer is cached
in ``<out>.run/cache.sqlite`` (SQLite in WAL mode, shared by the actors), so a rerun — after a
crash, a Ctrl-C or with another engine — pays for nothing twice. On a Ray cluster
(``MIKO_RAY_ADDRESS``) the run folder, the images and the input must be on a filesystem every
node sees at the same path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kg_builder.core.errors import SettingsError
from kg_builder.core.models import PostRecord, Rejection
from kg_builder.core.settings import Settings
from kg_builder.embeddings.texts import record_texts
from kg_builder.generation.pipeline import (
    BuildSummary,
    PostOutcome,
    ProgressLines,
    dead_letter_path,
    record,
    usage_of,
)

USAGE_COLUMNS = ("model_calls", "retries", "tokens_in", "tokens_out", "cache_hits")
ACTOR_COLUMNS = ("call_failures", "concurrency")
EMBED_COLUMNS = ("vectors_found", "vectors_embedded", "vectors_refused")


def vector_store_path(out: Path) -> Path:
    """Where `miko build --engine ray` writing ``out`` keeps the vectors of what it built."""
    return out.parent / (out.stem + ".run") / "vectors.sqlite"


@dataclass(frozen=True)
class RayOptions:
    address: str = ""  # "" starts a local Ray on this machine
    workers: int = 2
    batch_size: int = 16
    cpus_per_worker: float = 0.5  # the actors mostly wait on the model servers
    embed_workers: int = 1  # 0: no embedding stage
    embed_batch_size: int = 64
    cpus_per_embed_worker: float = 0.5  # a reservation for Ray's scheduler
    embed_threads: int = 0  # torch threads per embedding actor; 0: the cores / embed_workers


class BuildBatch:
    """A Ray Data actor: the pipeline of the single-process engine, run on batches of posts."""

    def __init__(self, settings: Settings, run_dir: str, images_dir: str | None,
                 retry_failed: bool) -> None:
        from kg_builder.generation.build import build_pipeline

        urls = [u.strip() for u in (settings.llm_base_url or "").split(",") if u.strip()]
        shift = os.getpid() % max(1, len(urls))  # actors start their round-robin apart
        self.loop = asyncio.new_event_loop()
        self.run = build_pipeline(settings, Path(run_dir), Path(images_dir) if images_dir else None,
                                  retry_failed, base_url=",".join(urls[shift:] + urls[:shift]))
        self.in_flight = max(1, settings.llm_concurrency * 2)
        self.counted = dict.fromkeys(USAGE_COLUMNS, 0)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        lines = [str(line) for line in batch["text"]]
        outcomes = self.loop.run_until_complete(self._all(lines))
        now = self._usage()
        delta = {k: now[k] - self.counted[k] for k in USAGE_COLUMNS}
        self.counted = now
        n = len(outcomes)
        # the actor's failures and concurrency so far (cumulative), on the batch's first row
        actor = json.dumps({"actor": os.getpid(), **{k: now[k] for k in ACTOR_COLUMNS}})
        return {
            "id": [o.post_id for o in outcomes],
            "built": [o.built.model_dump_json(exclude_none=True, exclude_defaults=True)
                      if o.built is not None else "" for o in outcomes],
            "dead": [json.dumps(o.dead, ensure_ascii=False) if o.dead else "" for o in outcomes],
            "image_skipped": [o.image_skipped for o in outcomes],
            # this batch's share of the actor's counters, on its first row
            **{k: [delta[k]] + [0] * (n - 1) for k in USAGE_COLUMNS},
            "actor": [actor] + [""] * (n - 1),
        }

    async def _all(self, lines: list[str]) -> list[PostOutcome]:
        slots = asyncio.Semaphore(self.in_flight)

        async def one(line: str) -> PostOutcome:
            async with slots:
                return await self.run.pipeline.outcome(PostRecord.model_validate_json(line))

        return list(await asyncio.gather(*(one(line) for line in lines)))

    def _usage(self) -> dict[str, Any]:
        usage = usage_of(self.run.clients)
        return {"model_calls": usage["model_calls"], "retries": usage["retries"],
                "tokens_in": usage["tokens_in"], "tokens_out": usage["tokens_out"],
                "cache_hits": sum(s.cache_hits for s in self.run.pipeline.stages),
                "call_failures": usage["call_failures"], "concurrency": usage["concurrency"]}


class EmbedBatch:
    """A Ray Data actor: embeds the built posts' texts and tails into the run's vector store
    (the texts the store has already are skipped); passes the rows on with its counts."""

    def __init__(self, settings: Settings, store_path: str, threads: int) -> None:
        import torch

        from kg_builder.embeddings import load_embedder
        from kg_builder.embeddings.store import StoredEmbedder, VectorStore

        # Ray gives an actor reserving under one CPU one thread; the model is the actor's work
        torch.set_num_threads(threads)
        model = load_embedder(settings)
        self.embedder = StoredEmbedder(
            model, VectorStore(Path(store_path), model.model_name, model.dimension), write=True)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts: list[str] = []
        for line in batch["built"]:
            if str(line):
                texts.extend(record_texts(PostRecord.model_validate_json(str(line))))
        hits, misses, refused = self.embedder.hits, self.embedder.misses, 0
        distinct = list(dict.fromkeys(texts))
        try:
            self.embedder.embed(distinct)
        except (ValueError, TypeError, RuntimeError):
            # a text the model refuses: store the others; the load embeds (and isolates) it
            for text in distinct:
                try:
                    self.embedder.embed([text])
                except (ValueError, TypeError, RuntimeError):
                    refused += 1
        n = len(batch["built"])
        return {**batch,
                "vectors_found": [self.embedder.hits - hits] + [0] * (n - 1),
                "vectors_embedded": [self.embedder.misses - misses] + [0] * (n - 1),
                "vectors_refused": [refused] + [0] * (n - 1)}


def stage_input(items: Any, staged: Path, summary: BuildSummary) -> int:
    """Write the valid posts as JSON lines (memory stays flat); count the rejections."""
    staged.parent.mkdir(parents=True, exist_ok=True)
    with staged.open("w", encoding="utf-8") as f:
        for item in items:
            if isinstance(item, Rejection):
                summary.rejected_input.append(item)
                continue
            summary.posts += 1
            f.write(item.model_dump_json() + "\n")
    return summary.posts


def run_build_ray(settings: Settings, input_path: Path, fmt: str, images_dir: Path | None,
                  out: Path, retry_failed: bool, progress: bool | None, options: RayOptions,
                  notify: Any = print) -> BuildSummary:
    """The stages over ``input_path`` on Ray; the same outputs and summary as ``run_build``."""
    if not settings.llm_base_url or not settings.llm_model:
        raise SettingsError(
            "--engine ray needs model servers: set MIKO_LLM_BASE_URL (several OpenAI-compatible "
            "/v1 URLs, comma-separated, e.g. one per vLLM replica) and MIKO_LLM_MODEL")
    try:
        import ray
        from ray.data import DataContext
    except ImportError as exc:
        raise SettingsError("--engine ray needs Ray: pip install 'miko-kg[ray]' "
                            "(ray[data])") from exc

    from kg_builder.inputs.readers import open_reader

    summary = BuildSummary()
    started = time.perf_counter()
    run_dir = out.parent / (out.stem + ".run")
    staged = run_dir / "ray-input.jsonl"
    if images_dir is None:
        notify("no --images folder: stage 1 (image description) is skipped")
    stage_input(open_reader(input_path, fmt, images_dir=images_dir), staged, summary)
    notify(f"ray: {summary.posts:,} posts staged in {staged}; {options.workers} workers "
           f"on {options.address or 'a local Ray'}")
    if not ray.is_initialized():
        ray.init(address=options.address or None, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=False, ignore_reinit_error=True,
                 num_cpus=None if options.address else max(2, os.cpu_count() or 2))
    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # reading the staged lines is light: it must not wait for CPUs the actors reserved
    dataset = ray.data.read_text(str(staged.resolve()),
                                 num_cpus=0.25).map_batches(
        BuildBatch, fn_constructor_kwargs={
            "settings": settings, "run_dir": str(run_dir.resolve()),
            "images_dir": str(images_dir.resolve()) if images_dir else None,
            "retry_failed": retry_failed},
        batch_size=options.batch_size, num_cpus=options.cpus_per_worker, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=options.workers))
    store = vector_store_path(out)
    if options.embed_workers > 0:
        dataset = dataset.map_batches(
            EmbedBatch, fn_constructor_kwargs={
                "settings": settings, "store_path": str(store.resolve()),
                "threads": options.embed_threads or max(
                    1, (os.cpu_count() or 1) // options.embed_workers)},
            batch_size=options.embed_batch_size, num_cpus=options.cpus_per_embed_worker,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=options.embed_workers))

    out.parent.mkdir(parents=True, exist_ok=True)
    interactive = sys.stderr.isatty()
    bar = tqdm(unit="post", desc="building (ray)", file=sys.stderr, total=summary.posts,
               disable=(not interactive) if progress is None else not progress)
    lines = ProgressLines(summary.posts) if bar.disable and progress is not False else None
    usage = dict.fromkeys(USAGE_COLUMNS + EMBED_COLUMNS, 0)
    actors: dict[int, dict[str, Any]] = {}  # each actor's latest (cumulative) counters
    try:
        with out.open("w", encoding="utf-8") as fout, dead_letter_path(out).open(
                "w", encoding="utf-8") as fdead:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for i, post_id in enumerate(batch["id"]):
                    built, dead = str(batch["built"][i]), str(batch["dead"][i])
                    record(summary, PostOutcome(
                        str(post_id),
                        built=PostRecord.model_validate_json(built) if built else None,
                        image_skipped=bool(batch["image_skipped"][i]),
                        dead=json.loads(dead) if dead else None), fout, fdead)
                    for k in USAGE_COLUMNS + (EMBED_COLUMNS if options.embed_workers else ()):
                        usage[k] += int(batch[k][i])
                    if str(batch["actor"][i]):
                        snapshot = json.loads(str(batch["actor"][i]))
                        actors[int(snapshot["actor"])] = snapshot
                bar.update(len(batch["id"]))
                if lines:
                    lines.tick(summary.built + len(summary.dead), summary.built,
                               len(summary.dead))
    except KeyboardInterrupt:
        summary.interrupted = True  # the actors' answers so far are in the cache
    finally:
        bar.close()
    if lines:
        lines.tick(summary.built + len(summary.dead), summary.built, len(summary.dead), final=True)
    summary.seconds = time.perf_counter() - started
    summary.cache_hits = usage.pop("cache_hits")
    failures: Counter[str] = Counter()
    for snapshot in actors.values():
        failures.update(snapshot["call_failures"])
    found, embedded = usage.pop("vectors_found"), usage.pop("vectors_embedded")
    refused = usage.pop("vectors_refused")
    summary.usage = {
        **usage, "call_failures": dict(failures),
        "concurrency": [{**c, "worker": f"actor {n}"} for n, snapshot in
                        enumerate(sorted(actors.values(), key=lambda a: int(a["actor"])), 1)
                        for c in snapshot["concurrency"]]}
    if options.embed_workers > 0:
        summary.vector_store = store
        summary.usage["vectors"] = {"store": str(store), "found": found, "embedded": embedded,
                                    "refused": refused}
    return summary
