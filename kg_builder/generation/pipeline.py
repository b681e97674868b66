"""The generation run: posts -> (image description) -> key information -> intentions -> JSONL.

Posts run concurrently (the LLM client bounds the requests in flight). Every answer is cached,
so a rerun, or a rerun after a crash or Ctrl-C, pays for nothing twice. A post whose stage fails
goes to the dead-letter file with the stage and the reason; posts in = posts built + posts
dead-lettered, always.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from kg_builder.core.errors import ImageError, LLMError, StageFailure
from kg_builder.core.models import PostRecord, Rejection
from kg_builder.generation.llm import LLMClient
from kg_builder.generation.stages.base import PostState, Stage
from kg_builder.generation.stages.image_description import ImageDescriptionStage


def dead_letter_path(out: Path) -> Path:
    """Where a run that writes ``out`` writes the posts it could not build."""
    return out.with_suffix(".dead.jsonl")


@dataclass
class BuildSummary:
    posts: int = 0
    built: int = 0
    dead: list[dict[str, str]] = field(default_factory=list)
    rejected_input: list[Rejection] = field(default_factory=list)
    images_skipped: int = 0
    interrupted: bool = False
    cache_hits: int = 0
    seconds: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)
    vector_store: Path | None = None  # the vectors the build embedded (Ray), for the load

    def as_dict(self) -> dict[str, Any]:
        reasons = Counter(d["reason"].split(":")[0] for d in self.dead)
        return {"posts": self.posts, "built": self.built, "dead_lettered": len(self.dead),
                "dead_by_reason": dict(reasons), "rejected_input": len(self.rejected_input),
                "images_skipped": self.images_skipped, "cache_hits": self.cache_hits,
                "interrupted": self.interrupted,
                "seconds": round(self.seconds, 2), **self.usage}

    def describe(self, out: Path) -> list[str]:
        """The summary as lines for a terminal."""
        st = self.as_dict()
        return [
            f"Built {st['built']} of {st['posts']} posts in {st['seconds']:.1f}s -> {out}; "
            f"dead-lettered {st['dead_lettered']} -> {dead_letter_path(out)} "
            f"{st['dead_by_reason']}",
            f"  model calls {st['model_calls']} (retries {st['retries']}), cache hits "
            f"{st['cache_hits']}, tokens in/out {st['tokens_in']}/{st['tokens_out']}, "
            f"images skipped {st['images_skipped']}",
            *(f"  concurrency on {c['endpoint']}"
              f"{' (' + c['worker'] + ')' if c.get('worker') else ''}: reached {c['peak']} "
              f"(ceiling {c['ceiling']}), {c['limit']} at the end, halved {c['decreases']} times"
              for c in st.get("concurrency", [])),
            *([f"  model call failures (retried or dead-lettered): {st['call_failures']}"]
              if st.get("call_failures") else []),
            *([f"  vectors: {v['embedded']:,} texts embedded, {v['found']:,} already stored, "
               f"{v['refused']:,} refused by the model (left to the load) -> {v['store']} "
               f"(load with: miko load {out} --vectors {v['store']})"]
              if (v := st.get("vectors")) else []),
        ]


class ProgressLines:
    """Periodic progress lines for runs without a terminal (logs, CI, nohup): posts done,
    posts/s and, when the number of posts is known, the time left."""

    def __init__(self, total: int | None, every_s: float = 30.0,
                 write: Callable[[str], None] | None = None) -> None:
        self.total = total
        self.every_s = every_s
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.started = self.last = time.monotonic()

    def tick(self, done: int, built: int, dead: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.every_s:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        line = (f"building: {done:,}" + (f" of {self.total:,}" if self.total else "")
                + f" posts done ({built:,} built, {dead:,} dead-lettered) in {elapsed:.0f}s, "
                f"{rate:.2f} posts/s")
        if self.total and rate > 0 and not final:
            line += f", about {(self.total - done) / rate / 60:.1f} min left"
        self.write(line)


@dataclass
class PostOutcome:
    """One post's result: built (the record, and whether its image was skipped) or dead."""

    post_id: str
    built: PostRecord | None = None
    image_skipped: bool = False
    dead: dict[str, str] | None = None  # {"id", "stage", "reason"}: a dead-letter line


class Pipeline:
    """Stages run in order over each post. Clients and stages are passed in."""

    def __init__(self, stages: list[Stage[Any, Any]], retry_failed: bool = True) -> None:
        self.stages = stages
        self.retry_failed = retry_failed
        self.describes_images = any(isinstance(s, ImageDescriptionStage) for s in stages)

    async def run_post(self, post: PostRecord) -> tuple[PostRecord, bool]:
        """The post with what every stage added; (post, its image was skipped).

        Raises StageFailure naming the stage (``image`` when the image file itself is unusable).
        """
        state = PostState(post=post, image=post.image)
        for stage in self.stages:
            try:
                data = await stage.prepare(state)
                if data is None:
                    continue
                output = await stage.run(data, self.retry_failed)
            except ImageError as exc:
                raise StageFailure("image", str(exc)) from exc
            except LLMError as exc:
                raise StageFailure(stage.name, str(exc)) from exc
            state = stage.merge(state, data, output)
        skipped = bool(post.image and post.image.file) and not self.describes_images
        return state.built(), skipped

    async def outcome(self, post: PostRecord) -> PostOutcome:
        """``run_post``, with every failure turned into a dead letter (a bug's too: a post is
        never lost, whatever the engine that runs it)."""
        try:
            built, skipped = await self.run_post(post)
        except StageFailure as exc:
            return PostOutcome(post.id, dead={"id": post.id, "stage": exc.stage,
                                              "reason": exc.reason})
        except Exception as exc:
            return PostOutcome(post.id, dead={
                "id": post.id, "stage": "internal",
                "reason": f"internal: {type(exc).__name__}: {exc}"[:500]})
        return PostOutcome(post.id, built=built, image_skipped=skipped)

    async def build(self, items: Iterable[PostRecord | Rejection], out: Path, dead: Path,
                    clients: list[LLMClient], in_flight: int = 256,
                    progress: bool | None = None, stop: asyncio.Event | None = None,
                    total: int | None = None, progress_every_s: float = 30.0
                    ) -> BuildSummary:
        """Run every post; when ``stop`` is set (first Ctrl-C), no new post starts and the
        posts in flight finish, so their answers are cached and none is paid for twice."""
        summary = BuildSummary()
        started = time.perf_counter()
        out.parent.mkdir(parents=True, exist_ok=True)
        interactive = sys.stderr.isatty()
        bar = tqdm(unit="post", desc="building", file=sys.stderr, total=total,
                   disable=(not interactive) if progress is None else not progress)
        # Without a terminal (and unless progress is turned off): a line every progress_every_s.
        lines = (ProgressLines(total, progress_every_s)
                 if bar.disable and progress is not False else None)
        slots = asyncio.Semaphore(in_flight)
        with out.open("w", encoding="utf-8") as fout, dead.open("w", encoding="utf-8") as fdead:
            async def one(post: PostRecord) -> None:
                try:
                    record(summary, await self.outcome(post), fout, fdead)
                finally:
                    bar.update(1)
                    if lines:
                        lines.tick(summary.built + len(summary.dead), summary.built,
                                   len(summary.dead))
                    slots.release()

            tasks = set()
            for item in items:
                if stop is not None and stop.is_set():
                    summary.interrupted = True
                    break
                if isinstance(item, Rejection):
                    summary.rejected_input.append(item)
                    continue
                summary.posts += 1
                await slots.acquire()
                task = asyncio.create_task(one(item))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            while tasks:
                await asyncio.gather(*list(tasks))
        bar.close()
        if lines:
            lines.tick(summary.built + len(summary.dead), summary.built, len(summary.dead),
                       final=True)
        summary.seconds = time.perf_counter() - started
        summary.cache_hits = sum(s.cache_hits for s in self.stages)
        summary.usage = usage_of(clients)
        return summary


def record(summary: BuildSummary, outcome: PostOutcome, fout: TextIO, fdead: TextIO) -> None:
    """Count one post's outcome and write it: the built record, or its dead letter."""
    if outcome.dead is not None:
        summary.dead.append(outcome.dead)
        fdead.write(json.dumps(outcome.dead, ensure_ascii=False) + "\n")
    elif outcome.built is not None:
        summary.built += 1
        summary.images_skipped += int(outcome.image_skipped)
        fout.write(outcome.built.model_dump_json(exclude_none=True, exclude_defaults=True) + "\n")


def usage_of(clients: list[LLMClient]) -> dict[str, Any]:
    """The model calls, retries, tokens, failures and concurrency of a run's clients."""
    failures: Counter[str] = Counter()
    for c in clients:
        failures.update(c.usage.failures)
    return {
        "model_calls": sum(c.usage.calls for c in clients),
        "retries": sum(c.usage.retries for c in clients),
        "tokens_in": sum(c.usage.tokens_in for c in clients),
        "tokens_out": sum(c.usage.tokens_out for c in clients),
        "call_failures": dict(failures),
        "concurrency": [e for c in clients for e in c.concurrency()]}
