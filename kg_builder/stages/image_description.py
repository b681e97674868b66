"""Stage 1: a multimodal model describes the image given the post text (the paper's prompt)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from kg_builder.stages.base import CachedStage


class ImageDescriptionInput(BaseModel):
    post_text: str
    image_sha256: str
    image_data_url: str = Field(repr=False)


class ImageDescription(BaseModel):
    description: str = Field(min_length=1)


class ImageDescriptionStage(CachedStage):
    stage = "image_description"

    async def run(self, data: ImageDescriptionInput, retry_failed: bool = True) -> ImageDescription:
        prompt = self.template.render(post_text=data.post_text)
        messages = [{"role": "user", "content": [
            {"type": "text", "text": prompt + "\nAnswer with one JSON object with the field "
                                              "\"description\"."},
            {"type": "image_url", "image_url": {"url": data.image_data_url}},
        ]}]
        payload = {"text": data.post_text, "image": data.image_sha256}
        return await self.cached(payload, messages, ImageDescription, retry_failed)
