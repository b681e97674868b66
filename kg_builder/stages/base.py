"""What the stages share: the cached, validated model call."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from kg_builder.llm import LLMClient, LLMError
from kg_builder.prompts import PromptTemplate
from kg_builder.stage_cache import StageCache, cache_key

T = TypeVar("T", bound=BaseModel)


class CachedStage:
    """A stage whose answers are cached by (stage, model, prompt version, input)."""

    stage = "stage"

    def __init__(self, client: LLMClient, cache: StageCache, template: PromptTemplate,
                 model: str) -> None:
        self.client = client
        self.cache = cache
        self.template = template
        self.model = model
        self.cache_hits = 0

    @property
    def prompt_version(self) -> str:
        return self.template.version

    async def cached(self, payload: dict[str, Any], messages: list[dict[str, Any]],
                     output: type[T], retry_failed: bool = True) -> T:
        key = cache_key(self.stage, self.model, self.template.version, payload)
        hit = self.cache.get(key)
        if hit is not None:
            self.cache_hits += 1
            return output.model_validate(hit)
        if not retry_failed:
            reason = self.cache.failure(key)
            if reason is not None:
                raise LLMError("failed_before", reason)
        try:
            answer = await self.client.complete_json(messages, output, self.stage)
        except LLMError as exc:
            self.cache.fail(key, self.stage, str(exc))
            raise
        self.cache.put(key, self.stage, answer.model_dump(mode="json"))
        return answer
