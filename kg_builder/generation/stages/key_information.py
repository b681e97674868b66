"""Stage 2: concept, action, object, emotion and three to five keywords, names removed."""

from __future__ import annotations

from pydantic import BaseModel, Field

from kg_builder.core.models import KeyInfo
from kg_builder.generation.grammar import key_information_grammar
from kg_builder.generation.stages.base import PostState, Stage


class KeyInformationInput(BaseModel):
    post_text: str
    image_description: str | None = None


class KeyInformationAnswer(BaseModel):
    """What the model must answer (checked); becomes the post's ``KeyInfo``."""

    concept: str = Field(min_length=1, max_length=200)
    action: str = Field(min_length=1, max_length=200)
    object: str = Field(min_length=1, max_length=200)
    emotion: str = Field(min_length=1, max_length=100)
    keywords: list[str] = Field(min_length=1, max_length=10)

    def to_key_info(self) -> KeyInfo:
        return KeyInfo(concept=self.concept, action=self.action, object=self.object,
                       emotion=self.emotion, keywords=self.keywords[:5])


class KeyInformationStage(Stage[KeyInformationInput, KeyInfo]):
    name = "key_information"
    template_name = "key_information"
    placeholders = frozenset({"post_text", "image_description"})
    input_model = KeyInformationInput
    output_model = KeyInfo
    grammar = key_information_grammar()

    async def prepare(self, state: PostState) -> KeyInformationInput:
        return KeyInformationInput(post_text=state.post.text,
                                   image_description=state.image_description)

    async def run(self, data: KeyInformationInput, retry_failed: bool = True) -> KeyInfo:
        prompt = self.template.render(post_text=data.post_text,
                                      image_description=data.image_description or "(no image)")
        payload = {"text": data.post_text, "image_description": data.image_description}
        answer = await self.cached(payload, [{"role": "user", "content": prompt}],
                                   KeyInformationAnswer, retry_failed)
        return answer.to_key_info()

    def merge(self, state: PostState, data: KeyInformationInput, output: KeyInfo) -> PostState:
        return state.model_copy(update={"key_info": output})
