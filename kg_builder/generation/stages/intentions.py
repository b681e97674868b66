"""Stage 3: one intention sentence per relation, following the MIKO templates.

The answer's keys are the ten relation names; anything else is rejected by the schema, so a
post that tries to steer the model can never add a relation (nor a label or type) of its own.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, create_model

from kg_builder.core.models import IntentionRecord, KeyInfo
from kg_builder.core.relations import Relation, split_tail
from kg_builder.generation.stages.base import PostState, Stage


class IntentionsInput(BaseModel):
    post_text: str
    image_description: str | None = None
    key_info: KeyInfo | None = None


class Intentions(BaseModel):
    """One intention sentence per relation, in ``Relation`` order."""

    intentions: list[IntentionRecord]


# The model writes only each sentence's continuation; the sentence is the relation's template
# followed by it. So every sentence follows its MIKO template exactly whatever the model, and
# the tail is the continuation. (A JSON-schema `pattern` for the prefix would be neater, but
# llama-cpp-python's grammar converter silently drops the whole schema when it meets one.)
_fields: dict[str, object] = {
    r.value: (str, Field(min_length=1, max_length=240)) for r in Relation
}
IntentionsAnswer: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "IntentionsAnswer", __config__=ConfigDict(extra="forbid"), **_fields)


def sentence(relation: Relation, continuation: str) -> str:
    """The full intention sentence; a continuation that repeats the template is not doubled."""
    text = " ".join(continuation.split())
    tail, matched = split_tail(relation, text)
    return f"{relation.spec.template} {tail if matched else text}"


def relation_templates() -> str:
    return "\n".join(f"- {r.value} ({r.spec.description}): \"{r.spec.template} ...\""
                     for r in Relation)


class IntentionsStage(Stage[IntentionsInput, Intentions]):
    name = "intentions"
    template_name = "intentions"
    placeholders = frozenset({"relation_templates", "post_text", "image_description",
                              "key_information"})
    input_model = IntentionsInput
    output_model = Intentions

    async def prepare(self, state: PostState) -> IntentionsInput:
        return IntentionsInput(post_text=state.post.text,
                               image_description=state.image_description,
                               key_info=state.key_info)

    async def run(self, data: IntentionsInput, retry_failed: bool = True) -> Intentions:
        key_info = data.key_info.model_dump_json(exclude_none=True) if data.key_info else "(none)"
        prompt = self.template.render(
            relation_templates=relation_templates(), post_text=data.post_text,
            image_description=data.image_description or "(no image)", key_information=key_info)
        payload = {"text": data.post_text, "image_description": data.image_description,
                   "key_info": key_info}
        answer = await self.cached(payload, [{"role": "user", "content": prompt}],
                                   IntentionsAnswer, retry_failed)
        return Intentions(intentions=[
            IntentionRecord(relation=rel, text=sentence(rel, getattr(answer, rel.value)),
                            model=self.model, prompt_version=self.prompt_version,
                            source=f"llm:{self.model}")
            for rel in Relation])

    def merge(self, state: PostState, data: IntentionsInput, output: Intentions) -> PostState:
        return state.model_copy(update={"intentions": output.intentions})
