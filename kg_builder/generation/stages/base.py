"""The stage contract: what every generation stage declares, checked when its class is defined.

A stage names itself, its prompt template and the template's placeholders, and its input and
output models (pydantic); its one ``async run(data, retry_failed) -> output`` must be annotated
with exactly those models. ``prepare`` builds the input from a post's state (or says the stage
does not apply), ``merge`` puts the output back; so ``Pipeline`` runs any list of stages in one
loop. Answers are cached by (stage, model, prompt version, input): a rerun never pays twice.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kg_builder.core.errors import LLMError
from kg_builder.core.models import ImageRef, IntentionRecord, KeyInfo, PostRecord
from kg_builder.generation.cache import StageCache, cache_key
from kg_builder.generation.grammar import grammar_version
from kg_builder.generation.llm import LLMClient
from kg_builder.generation.prompts import PromptTemplate, load_template

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)
T = TypeVar("T", bound=BaseModel)


class PostState(BaseModel):
    """What the stages have made of one post so far."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    post: PostRecord
    image: ImageRef | None = None
    image_description: str | None = None
    key_info: KeyInfo | None = None
    intentions: list[IntentionRecord] = Field(default_factory=list)

    def built(self) -> PostRecord:
        """The post with everything the stages added."""
        return self.post.model_copy(update={"image": self.image, "key_info": self.key_info,
                                            "intentions": self.intentions})


class Stage(Generic[In, Out]):
    """Base of the generation stages; subclasses are checked when they are defined."""

    name: ClassVar[str]
    template_name: ClassVar[str]
    placeholders: ClassVar[frozenset[str]]
    input_model: ClassVar[type[BaseModel]]
    output_model: ClassVar[type[BaseModel]]
    # A llama.cpp grammar for the answer, sent to the servers that take one (optional).
    grammar: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        where = f"stage class {cls.__qualname__}"
        for attr in ("name", "template_name", "placeholders", "input_model", "output_model"):
            if attr not in cls.__dict__:
                raise TypeError(f"{where} must declare `{attr}`")
        for attr in ("input_model", "output_model"):
            model = cls.__dict__[attr]
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise TypeError(f"{where}: `{attr}` must be a pydantic model class")
        run = cls.__dict__.get("run")
        if run is None or not inspect.iscoroutinefunction(run):
            raise TypeError(f"{where} must define `async def run(self, data, retry_failed=True)`")
        params = list(inspect.signature(run).parameters)
        if params != ["self", "data", "retry_failed"]:
            raise TypeError(f"{where}.run takes (self, data, retry_failed), not {params}")
        hints = typing.get_type_hints(run)
        if hints.get("data") is not cls.input_model or hints.get("return") is not cls.output_model:
            raise TypeError(
                f"{where}.run must be annotated (data: {cls.input_model.__name__}) -> "
                f"{cls.output_model.__name__}, not ({hints.get('data')}) -> {hints.get('return')}")

    def __init__(self, client: LLMClient, cache: StageCache, model: str,
                 template: PromptTemplate | None = None) -> None:
        self.client = client
        self.cache = cache
        self.model = model
        self.template = template or load_template(self.template_name, set(self.placeholders))
        if self.template.placeholders != self.placeholders:
            raise TypeError(f"stage {self.name}: template {self.template.name!r} has placeholders "
                            f"{sorted(self.template.placeholders)}, not {sorted(self.placeholders)}")
        self.cache_hits = 0

    @property
    def uses_grammar(self) -> bool:
        return self.grammar is not None and self.client.uses_grammar

    @property
    def prompt_version(self) -> str:
        """The prompt file's version, and the grammar's when the answers are written under one
        (so answers made under another grammar are neither reused nor mistaken for these)."""
        if self.uses_grammar:
            assert self.grammar is not None
            return f"{self.template.version}+g{grammar_version(self.grammar)}"
        return self.template.version

    async def run(self, data: In, retry_failed: bool = True) -> Out:
        raise NotImplementedError

    async def prepare(self, state: PostState) -> In | None:
        """This stage's input for a post, or None when the stage does not apply to it."""
        raise NotImplementedError

    def merge(self, state: PostState, data: In, output: Out) -> PostState:
        """The post's state with this stage's output (for this input) added."""
        raise NotImplementedError

    async def cached(self, payload: dict[str, Any], messages: list[dict[str, Any]],
                     output: type[T], retry_failed: bool = True) -> T:
        """The model's validated answer, from the cache when this input was answered before.

        With ``retry_failed`` False, an input that failed before fails again without a call.
        """
        key = cache_key(self.name, self.model, self.prompt_version, payload)
        hit = self.cache.get(key)
        if hit is not None:
            try:
                answer = output.model_validate(hit)
            except ValidationError:
                pass  # kept by an older, laxer check of the answers: ask again
            else:
                self.cache_hits += 1
                return answer
        if not retry_failed:
            reason = self.cache.failure(key)
            if reason is not None:
                raise LLMError("failed_before", reason)
        try:
            answer = await self.client.complete_json(
                messages, output, self.name, self.grammar if self.uses_grammar else None)
        except LLMError as exc:
            self.cache.fail(key, self.name, str(exc))
            raise
        self.cache.put(key, self.name, answer.model_dump(mode="json"))
        return answer
