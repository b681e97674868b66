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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kg_builder.images import ImageError, prepare_image
from kg_builder.llm import LLMClient, LLMError
from kg_builder.models import ImageRef, PostRecord, Rejection
from kg_builder.stages.image_description import ImageDescriptionInput, ImageDescriptionStage
from kg_builder.stages.intentions import IntentionsInput, IntentionsStage
from kg_builder.stages.key_information import KeyInformationInput, KeyInformationStage


class StageFailure(Exception):
    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


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

    def as_dict(self) -> dict[str, Any]:
        reasons = Counter(d["reason"].split(":")[0] for d in self.dead)
        return {"posts": self.posts, "built": self.built, "dead_lettered": len(self.dead),
                "dead_by_reason": dict(reasons), "rejected_input": len(self.rejected_input),
                "images_skipped": self.images_skipped, "cache_hits": self.cache_hits,
                "interrupted": self.interrupted,
                "seconds": round(self.seconds, 2), **self.usage}


class Pipeline:
    """The three stages wired together. Clients and stages are passed in."""

    def __init__(self, key_info: KeyInformationStage, intentions: IntentionsStage,
                 image: ImageDescriptionStage | None = None, images_dir: Path | None = None,
                 retry_failed: bool = True, max_image_side: int = 1024) -> None:
        self.key_info = key_info
        self.intentions = intentions
        self.image = image
        self.images_dir = images_dir
        self.retry_failed = retry_failed
        self.max_image_side = max_image_side

    async def run_post(self, post: PostRecord) -> tuple[PostRecord, bool]:
        """The post with image description, key information and intentions; (post, image skipped)."""
        description = None
        image = post.image
        skipped = False
        if image is not None and image.file:
            if self.image is None or self.images_dir is None:
                skipped = True
            else:
                try:
                    prepared = await asyncio.to_thread(
                        prepare_image, self.images_dir / image.file, self.max_image_side)
                except ImageError as exc:
                    raise StageFailure("image", str(exc)) from exc
                try:
                    described = await self.image.run(ImageDescriptionInput(
                        post_text=post.text, image_sha256=prepared.sha256,
                        image_data_url=prepared.data_url), self.retry_failed)
                except LLMError as exc:
                    raise StageFailure("image_description", str(exc)) from exc
                description = described.description
                image = ImageRef(file=image.file, sha256=prepared.sha256, description=description)
        try:
            key_info = await self.key_info.run(KeyInformationInput(
                post_text=post.text, image_description=description), self.retry_failed)
        except LLMError as exc:
            raise StageFailure("key_information", str(exc)) from exc
        try:
            intentions = await self.intentions.run(IntentionsInput(
                post_text=post.text, image_description=description, key_info=key_info),
                self.retry_failed)
        except LLMError as exc:
            raise StageFailure("intentions", str(exc)) from exc
        return post.model_copy(update={"image": image, "key_info": key_info,
                                       "intentions": intentions}), skipped

    async def build(self, items: Iterable[PostRecord | Rejection], out: Path, dead: Path,
                    clients: list[LLMClient], in_flight: int = 256,
                    progress: bool | None = None, stop: asyncio.Event | None = None
                    ) -> BuildSummary:
        """Run every post; when ``stop`` is set (first Ctrl-C), no new post starts and the
        posts in flight finish, so their answers are cached and none is paid for twice."""
        summary = BuildSummary()
        started = time.perf_counter()
        out.parent.mkdir(parents=True, exist_ok=True)
        bar = tqdm(unit="post", desc="building", file=sys.stderr,
                   disable=(not sys.stderr.isatty()) if progress is None else not progress)
        slots = asyncio.Semaphore(in_flight)
        with out.open("w", encoding="utf-8") as fout, dead.open("w", encoding="utf-8") as fdead:
            async def one(post: PostRecord) -> None:
                try:
                    built, skipped = await self.run_post(post)
                except StageFailure as exc:
                    entry = {"id": post.id, "stage": exc.stage, "reason": exc.reason}
                    summary.dead.append(entry)
                    fdead.write(json.dumps(entry, ensure_ascii=False) + "\n")
                except Exception as exc:  # a bug must not lose the post either
                    entry = {"id": post.id, "stage": "internal",
                             "reason": f"internal: {type(exc).__name__}: {exc}"[:500]}
                    summary.dead.append(entry)
                    fdead.write(json.dumps(entry, ensure_ascii=False) + "\n")
                else:
                    summary.built += 1
                    summary.images_skipped += int(skipped)
                    fout.write(built.model_dump_json(exclude_none=True, exclude_defaults=True)
                               + "\n")
                finally:
                    bar.update(1)
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
        summary.seconds = time.perf_counter() - started
        summary.cache_hits = sum(s.cache_hits for s in (self.key_info, self.intentions, self.image)
                                 if s is not None)
        failures: Counter[str] = Counter()
        for c in clients:
            failures.update(c.usage.failures)
        summary.usage = {
            "model_calls": sum(c.usage.calls for c in clients),
            "retries": sum(c.usage.retries for c in clients),
            "tokens_in": sum(c.usage.tokens_in for c in clients),
            "tokens_out": sum(c.usage.tokens_out for c in clients),
            "call_failures": dict(failures)}
        return summary
