"""Stage 3: one intention sentence per relation, following the MIKO templates.

The answer's keys are the ten relation names; anything else is rejected by the schema, so a
post that tries to steer the model can never add a relation (nor a label or type) of its own.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from kg_builder.core.models import IntentionRecord, KeyInfo
from kg_builder.core.relations import Relation, split_tail
from kg_builder.generation.grammar import intentions_grammar
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
# A placeholder the model copied instead of filling in: "[brief description]", "<name>",
# "{concept}"; and words only the instructions use.
# ("<user>" and "<url>" are tokens of the tweets themselves, so angle brackets count only
# around several words.)
_PLACEHOLDER = re.compile(r"\[[^\]]{1,60}\]|<[^>\s]{1,30}\s[^>]{1,30}>|\{[^}]{1,60}\}")
_INSTRUCTION = re.compile(r"\b(brief description|person'?s name|json|the relation names?|"
                          r"the completions?|the post text)\b", re.I)
_WORD = re.compile(r"[a-z']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def continuation_of(relation: Relation, answer: str) -> str:
    """The words that complete the relation's template, with any echo of the template cut:
    the whole template ("After posting this Tweet, the user wants to ..."), its end ("The user
    wants to ..."), or its opening clause repeated at the end ("... before posting this Tweet.").
    """
    text = " ".join(answer.split())
    tail, matched = split_tail(relation, text)
    if matched:
        text = tail
    template = _words(relation.spec.template)
    found = text.split()
    for k in range(len(template) - 1, 1, -1):  # the template's last k words opening the answer
        if _words(" ".join(found[:k])) == template[-k:] and len(found) > k:
            text = " ".join(found[k:])
            break
    opening = relation.spec.template.split(",")[0]
    if "," in relation.spec.template and text.lower().rstrip(" .!").endswith(opening.lower()):
        text = text[: text.lower().rstrip(" .!").rfind(opening.lower())].rstrip(" ,")
    return text.strip()


def check_continuation(relation: Relation, value: str) -> str:
    """The continuation without any echo of the template; ValueError for an answer not worth
    storing (the model is asked once more, then the post is dead-lettered with this reason)."""
    text = continuation_of(relation, value)
    if not re.search(r"[A-Za-z]{2}", text):
        raise ValueError("empty: no words (write the completion for this post)")
    if placeholder := _PLACEHOLDER.search(text):
        raise ValueError(f"keeps a placeholder from the prompt: {placeholder[0]!r} (write the "
                         "actual words for this post)")
    if instruction := _INSTRUCTION.search(text):
        raise ValueError(f"repeats the instructions ({instruction[0]!r}) instead of completing "
                         "the sentence for this post")
    return text


_fields: dict[str, object] = {
    r.value: (Annotated[str, AfterValidator(partial(check_continuation, r))],
              Field(min_length=1, max_length=240)) for r in Relation
}
IntentionsAnswer: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "IntentionsAnswer", __config__=ConfigDict(extra="forbid"), **_fields)


def sentence(relation: Relation, continuation: str) -> str:
    """The full intention sentence: the template once, then the (checked) continuation."""
    return f"{relation.spec.template} {continuation}"


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
    grammar = intentions_grammar()

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
