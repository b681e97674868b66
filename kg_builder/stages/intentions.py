"""Stage 3: one intention sentence per relation, following the MIKO templates.

The answer's keys are the ten relation names; anything else is rejected by the schema, so a
post that tries to steer the model can never add a relation (nor a label or type) of its own.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from kg_builder.models import IntentionRecord, KeyInfo
from kg_builder.relations import Relation, split_tail
from kg_builder.stages.base import CachedStage


class IntentionsInput(BaseModel):
    post_text: str
    image_description: str | None = None
    key_info: KeyInfo | None = None


def _check_templates(answer: BaseModel) -> BaseModel:
    for rel in Relation:
        sentence = getattr(answer, rel.value)
        if not split_tail(rel, sentence)[1]:
            raise ValueError(f"{rel.value} must start with {rel.spec.template!r}")
    return answer


_METACHARS = re.compile(r"([.^$*+?()\[\]{}|\\])")  # re.escape would also escape spaces

# Each sentence must open with its relation's template; the pattern also goes into the JSON
# schema, so grammar-constrained servers (llama.cpp) produce the prefix by construction.
_fields: dict[str, object] = {
    r.value: (str, Field(min_length=1, max_length=240,
                         pattern="^" + _METACHARS.sub(r"\\\1", r.spec.template) + " "))
    for r in Relation
}
IntentionsAnswer: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "IntentionsAnswer", __config__=ConfigDict(extra="forbid"),
    __validators__={"templates": model_validator(mode="after")(_check_templates)}, **_fields)


def relation_templates() -> str:
    return "\n".join(f"- {r.value} ({r.spec.description}): \"{r.spec.template} ...\""
                     for r in Relation)


class IntentionsStage(CachedStage):
    stage = "intentions"

    async def run(self, data: IntentionsInput, retry_failed: bool = True) -> list[IntentionRecord]:
        key_info = data.key_info.model_dump_json(exclude_none=True) if data.key_info else "(none)"
        prompt = self.template.render(
            relation_templates=relation_templates(), post_text=data.post_text,
            image_description=data.image_description or "(no image)", key_information=key_info)
        payload = {"text": data.post_text, "image_description": data.image_description,
                   "key_info": key_info}
        answer = await self.cached(payload, [{"role": "user", "content": prompt}],
                                   IntentionsAnswer, retry_failed)
        return [IntentionRecord(relation=rel, text=getattr(answer, rel.value), model=self.model,
                                prompt_version=self.prompt_version, source=f"llm:{self.model}")
                for rel in Relation]
