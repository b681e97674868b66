"""Stage 3 by the student: each relation's intention as a completion of the few-shot prompt.

The student (a LoRA adapter on the packaged base, ``kg_builder.student``) was trained on the
prompts of ``fewshot.prompt_for``: the most similar posts' kept intentions of one relation, then
the post and the relation's template. Here it completes the same prompts, one relation at a
time, with examples from a ``Retriever`` over the graph's (or a release file's) kept intentions
(none: the prompt without examples, which the student also learnt). Each answer goes through the
same checks as the chat stage's (``check_continuation``: no placeholder, no instructions, no
doubled template); an answer that fails them is asked again with sampling, and after
``attempts`` the post is dead-lettered with the reason. Every intention names the student in
its provenance (``model``: ``student:<id>``; ``base:<name>`` for the base without an adapter).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from pydantic import BaseModel

from kg_builder.core.errors import LLMError
from kg_builder.core.models import IntentionRecord
from kg_builder.core.relations import Relation
from kg_builder.generation.cache import StageCache, cache_key
from kg_builder.generation.fewshot import (
    PLACEHOLDERS,
    PROMPT_VERSION,
    TEMPLATE_NAME,
    Retriever,
    prompt_for,
)
from kg_builder.generation.llm import LLMClient
from kg_builder.generation.stages.base import PostState, Stage
from kg_builder.generation.stages.intentions import Intentions, check_continuation, sentence

MAX_ANSWER_CHARS = 240  # as the chat stage's answers
MAX_ANSWER_TOKENS = 64


class StudentInput(BaseModel):
    post_text: str


class StudentIntentionsStage(Stage[StudentInput, Intentions]):
    name = "student_intentions"
    template_name = TEMPLATE_NAME
    placeholders = PLACEHOLDERS
    input_model = StudentInput
    output_model = Intentions

    def __init__(self, client: LLMClient, cache: StageCache, model: str, *,
                 retriever: Retriever | None = None, shots: int = 2, attempts: int = 3,
                 served: str = "") -> None:
        """``model`` is the provenance (student:<id>); ``served`` says what answers exactly
        (the adapter's hash, or a remote server's URL and model name): both key the cache,
        so another adapter, server or model name never reuses these answers or failures."""
        super().__init__(client, cache, model)
        self.retriever = retriever if retriever is not None and len(retriever) else None
        self.shots = shots
        self.attempts = max(1, attempts)
        self.served = served

    @property
    def prompt_version(self) -> str:
        return f"{PROMPT_VERSION}+{self.template.version}"

    async def prepare(self, state: PostState) -> StudentInput:
        return StudentInput(post_text=state.post.text)

    async def run(self, data: StudentInput, retry_failed: bool = True) -> Intentions:
        vector = self.retriever.embed(data.post_text) if self.retriever else None
        prompts = {}
        for relation in Relation:
            shots = (self.retriever.shots(data.post_text, relation, self.shots, vector)
                     if self.retriever else [])
            prompts[relation] = prompt_for(relation, data.post_text, shots, self.template)
        tails = await first_failure_cancels(
            [self._answer(relation, prompt, retry_failed) for relation, prompt in prompts.items()])
        return Intentions(intentions=[
            IntentionRecord(relation=relation, text=sentence(relation, tail), model=self.model,
                            prompt_version=self.prompt_version, source=self.model)
            for relation, tail in zip(prompts, tails, strict=True)])

    async def _answer(self, relation: Relation, prompt: str, retry_failed: bool) -> str:
        """The checked continuation of ``prompt`` (cached by the prompt, which holds the
        examples), or LLMError after ``attempts`` answers that fail the checks."""
        key = cache_key(self.name, self.model, self.prompt_version,
                        {"prompt": prompt, "served": self.served})
        hit = self.cache.get(key)
        if hit is not None:
            try:
                tail = check(relation, str(hit.get("text", "")))
            except ValueError:
                pass  # kept by an older, laxer check: ask again
            else:
                self.cache_hits += 1
                return tail
        if not retry_failed and (reason := self.cache.failure(key)) is not None:
            raise LLMError("failed_before", reason)
        problem = ""
        for attempt in range(self.attempts):
            try:
                answer = await self.client.complete_text(
                    prompt, self.name, max_tokens=MAX_ANSWER_TOKENS, stop=("\n", "\r"),
                    temperature=0.0 if attempt == 0 else 0.8, seed=attempt or None)
                tail = check(relation, answer)
            except ValueError as exc:
                problem = f"{relation.value}: {exc}"
                continue
            except LLMError as exc:
                if exc.reason in ("length", "empty"):  # a bad answer, not a failed call
                    problem = f"{relation.value}: {exc}"
                    continue
                self.cache.fail(key, self.name, f"{relation.value}: {exc}")
                raise LLMError(exc.reason, f"{relation.value}: {exc.detail}") from exc
            self.cache.put(key, self.name, {"text": tail})
            return tail
        self.cache.fail(key, self.name, problem)
        raise LLMError("invalid_answer", f"{problem} (after {self.attempts} answers)")

    def merge(self, state: PostState, data: StudentInput, output: Intentions) -> PostState:
        return state.model_copy(update={"intentions": output.intentions})


async def first_failure_cancels(calls: list[Coroutine[Any, Any, str]]) -> list[str]:
    """The results of ``calls`` run together, in order; the first failure cancels the others
    (a dead post frees the model at once) and is raised as it is."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def check(relation: Relation, answer: str) -> str:
    """The answer's first line as a checked continuation of the relation's template, which
    also makes a storable intention (the record's own limits and cleaning)."""
    lines = answer.strip().splitlines()  # any line break ends the answer (\r, \u2028, ...)
    line = lines[0].strip() if lines else ""
    if len(line) > MAX_ANSWER_CHARS:
        raise ValueError(f"longer than {MAX_ANSWER_CHARS} characters")
    tail = check_continuation(relation, line)
    IntentionRecord(relation=relation, text=sentence(relation, tail))  # ValueError if not
    return tail
