"""Wiring and running a generation run from the settings: ``build_pipeline`` (used by the CLI,
the benchmarks and the tests) and ``run_build`` (the local model when no server is configured,
the run itself, and Ctrl-C handling)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kg_builder.core.errors import SettingsError
from kg_builder.core.settings import Settings
from kg_builder.generation.cache import StageCache
from kg_builder.generation.fewshot import Retriever
from kg_builder.generation.llm import Endpoint, LLMClient, StructuredMode
from kg_builder.generation.pipeline import BuildSummary, Pipeline, dead_letter_path
from kg_builder.generation.stages.base import Stage
from kg_builder.generation.stages.image_description import ImageDescriptionStage
from kg_builder.generation.stages.intentions import IntentionsStage
from kg_builder.generation.stages.key_information import KeyInformationStage
from kg_builder.generation.stages.student_intentions import StudentIntentionsStage

Notify = Callable[[str], None]


@dataclass
class StudentPlan:
    """Who writes the intentions when the student does (``kg_builder.student.serving``)."""

    model: str  # the provenance every intention carries: student:<id>, or base:<name>
    adapter: Path | None  # the GGUF LoRA adapter on the packaged base; None: the base alone
    retriever: Retriever | None  # the in-context examples (None: none)
    shots: int = 2
    base_url: str | None = None  # a server that has the student already (vLLM --enable-lora)
    served_model: str = "miko-student"  # the model name to ask that server for
    served: str = ""  # what answers exactly (adapter hash, server and name): keys the cache

    def describe(self) -> str:
        examples = (f"{self.shots} examples each from {len(self.retriever):,} posts' kept "
                    "intentions" if self.retriever and self.shots else "no examples")
        return f"intentions by {self.model} ({examples})"


@dataclass
class PipelineRun:
    """A wired pipeline with the clients and the cache it owns (close them with ``aclose``)."""

    pipeline: Pipeline
    clients: list[LLMClient]
    cache: StageCache

    async def aclose(self) -> None:
        for client in self.clients:
            await client.close()
        self.cache.close()


def count_posts(path: Path, fmt: str) -> int | None:
    """How many posts a line-per-post input holds (for the time left), else None."""
    if fmt not in ("jsonl", "sarcasm") or not path.is_file():
        return None
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def make_client(settings: Settings, base_urls: str, model: str,
                start_concurrency: int | None = None) -> LLMClient:
    """An LLM client for comma-separated base URLs, with the settings' limits."""
    key = settings.llm_api_key.get_secret_value()
    endpoints = [Endpoint(url.strip(), key, model, settings.llm_azure_api_version,
                          start_concurrency, grammar=settings.llm_grammar,
                          stream=settings.llm_stream)
                 for url in base_urls.split(",") if url.strip()]
    return LLMClient(endpoints, timeout_s=settings.llm_timeout_s,
                     max_retries=settings.llm_max_retries, concurrency=settings.llm_concurrency,
                     structured=cast(StructuredMode, settings.llm_structured_output),
                     max_tokens=settings.llm_max_tokens)


def build_pipeline(settings: Settings, run_dir: Path, images_dir: Path | None = None,
                   retry_failed: bool = True, base_url: str | None = None,
                   model: str | None = None, start_concurrency: int | None = None,
                   student: StudentPlan | None = None, student_url: str | None = None,
                   student_concurrency: int | None = None) -> PipelineRun:
    """The three stages wired to the configured model server (or the given one).

    Without ``images_dir`` there is no image stage (stage 1 is skipped). With ``student``, stage
    3 is the student's (plain completions at ``student_url``, else ``student.base_url``, else
    the text server).
    """
    base_url = base_url or settings.llm_base_url
    model = model or settings.llm_model
    if not base_url or not model:
        raise SettingsError(
            "no model configured: set MIKO_LLM_BASE_URL (an OpenAI-compatible /v1 URL: "
            "OpenAI, Azure, vLLM, Ollama or llama.cpp) and MIKO_LLM_MODEL")
    text_client = make_client(settings, base_url, model, start_concurrency)
    clients = [text_client]
    cache = StageCache(run_dir / "cache.sqlite")
    stages: list[Stage[Any, Any]] = []
    if images_dir is not None:
        image_model = settings.llm_image_model or model
        image_client = make_client(settings, settings.llm_image_base_url or base_url, image_model)
        clients.append(image_client)
        stages.append(ImageDescriptionStage(image_client, cache, image_model,
                                            images_dir=images_dir,
                                            max_image_side=settings.max_image_side))
    stages.append(KeyInformationStage(text_client, cache, model))
    if student is None:
        stages.append(IntentionsStage(text_client, cache, model))
    else:
        url = student_url or student.base_url
        student_client = text_client
        if url:
            served = student.served_model if student.adapter or student.base_url else model
            remote = student_url is None  # MIKO_STUDENT_BASE_URL, not our local server
            student_client = LLMClient(
                [Endpoint(url, settings.student_api_key.get_secret_value() if remote else "",
                          served, start_concurrency=None if remote else start_concurrency)],
                timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
                concurrency=student_concurrency or settings.llm_concurrency)
            clients.append(student_client)
        stages.append(StudentIntentionsStage(student_client, cache, student.model,
                                             retriever=student.retriever, shots=student.shots,
                                             served=student.served))
    return PipelineRun(Pipeline(stages, retry_failed=retry_failed), clients, cache)


def run_build(settings: Settings, input_path: Path, fmt: str, images_dir: Path | None,
              out: Path, retry_failed: bool = True, progress: bool | None = None,
              notify: Notify = print, student: StudentPlan | None = None) -> BuildSummary:
    """Run the stages over ``input_path`` into ``out`` (dead letters beside it).

    With no MIKO_LLM_BASE_URL the packaged local model is started for the run (no image stage),
    and with ``student`` a second one with the student's adapter writes the intentions. The
    first Ctrl-C lets the posts in flight finish, so their answers are cached; a second one
    stops at once.
    """
    from kg_builder.inputs.readers import open_reader

    servers = contextlib.ExitStack()
    base_url = model = None
    local: Any = None
    student_server: Any = None
    if not settings.llm_base_url:
        from kg_builder.generation.local_model import (
            DEMO_WARNING,
            LocalModelServer,
            ensure_local_runtime,
        )

        if student is None:
            notify(f"warning: {DEMO_WARNING}")
        else:
            notify("no MIKO_LLM_BASE_URL: the packaged local model SmolLM2-135M-Instruct "
                   f"writes the key information (demo quality), {student.describe()} (no image "
                   "model, so image description is skipped)")
        ensure_local_runtime(settings.local_model_auto_install, notify)
        local = LocalModelServer()
        base_url, model = local.base_url, local.model_name
        if student is not None and student.adapter is not None and not student.base_url:
            student_server = LocalModelServer(lora=student.adapter,
                                              alias=student.served_model)
        images_dir = None
    elif student is not None and not student.base_url:
        notify("MIKO_LLM_BASE_URL is set: its model writes the intentions (the student is "
               "used without a model server, or with MIKO_STUDENT_BASE_URL)")
        student = None
    elif student is not None:
        notify(f"{student.describe()}, answered by {student.base_url}")
    if images_dir is None:
        notify("no --images folder: stage 1 (image description) is skipped")
    reader = open_reader(input_path, fmt, images_dir=images_dir)
    # a remote student keeps the configured ceiling; the local one answers one at a time
    student_concurrency = (settings.llm_concurrency if student is not None and student.base_url
                           else None)
    with servers:
        for server in (local, student_server):
            if server is not None:
                servers.enter_context(server)
        if local is not None:
            # Its answers stream, so the timeout bounds a pause, never a slow but steady answer;
            # grammars keep its answers in shape (templates, no placeholders, bounded length).
            speed = local.measure_speed()
            notify(f"local model: {speed:.0f} tokens/s here; answers stream, so a request times "
                   f"out only after {settings.llm_timeout_s:.0f}s without a token "
                   "(MIKO_LLM_TIMEOUT_S)")
            # It answers one request at a time (SLOTS): that is also its concurrency's ceiling.
            settings = settings.model_copy(update={
                "llm_grammar": True, "llm_stream": True,
                "llm_concurrency": min(settings.llm_concurrency, local.SLOTS)})
        # The packaged local server answers one request at a time: start there.
        run = build_pipeline(settings, out.parent / (out.stem + ".run"), images_dir,
                             retry_failed, base_url, model,
                             start_concurrency=local.SLOTS if local is not None else None,
                             student=student,
                             student_url=student_server.base_url if student_server else None,
                             student_concurrency=student_concurrency)

        async def go() -> BuildSummary:
            stop = asyncio.Event()

            def on_interrupt() -> None:
                if stop.is_set():  # second Ctrl-C: stop now
                    raise KeyboardInterrupt
                notify("\ninterrupted: finishing the posts in flight (Ctrl-C again to abort)")
                stop.set()

            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_interrupt)
            try:
                return await run.pipeline.build(
                    reader, out, dead_letter_path(out), run.clients,
                    in_flight=settings.llm_concurrency * 2, progress=progress, stop=stop,
                    total=count_posts(input_path, fmt))
            finally:
                await run.aclose()

        return asyncio.run(go())
