"""Stage 1: a multimodal model describes the image given the post text (the paper's prompt).

The image is read only from the images folder the run was given, opened safely, downscaled and
stripped of metadata before it is sent (``generation.images``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from kg_builder.core.errors import ImageError
from kg_builder.core.models import ImageRef
from kg_builder.core.paths import confined_file
from kg_builder.generation.images import prepare_image
from kg_builder.generation.stages.base import PostState, Stage


class ImageDescriptionInput(BaseModel):
    post_text: str
    image_file: str
    image_sha256: str
    image_data_url: str = Field(repr=False)


class ImageDescription(BaseModel):
    description: str = Field(min_length=1)


class ImageDescriptionStage(Stage[ImageDescriptionInput, ImageDescription]):
    name = "image_description"
    template_name = "image_description"
    placeholders = frozenset({"post_text"})
    input_model = ImageDescriptionInput
    output_model = ImageDescription

    def __init__(self, *args: Any, images_dir: Path, max_image_side: int = 1024,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.images_dir = images_dir
        self.max_image_side = max_image_side

    async def prepare(self, state: PostState) -> ImageDescriptionInput | None:
        image = state.post.image
        if image is None or not image.file:
            return None
        try:
            path = confined_file(self.images_dir, image.file)
        except OSError as exc:
            raise ImageError(f"image {image.file!r} cannot be read in {self.images_dir} "
                             f"({exc.strerror})") from exc
        prepared = await asyncio.to_thread(prepare_image, path, self.max_image_side)
        return ImageDescriptionInput(post_text=state.post.text, image_file=image.file,
                                     image_sha256=prepared.sha256,
                                     image_data_url=prepared.data_url)

    async def run(self, data: ImageDescriptionInput, retry_failed: bool = True) -> ImageDescription:
        prompt = self.template.render(post_text=data.post_text)
        messages = [{"role": "user", "content": [
            {"type": "text", "text": prompt + "\nAnswer with one JSON object with the field "
                                              "\"description\"."},
            {"type": "image_url", "image_url": {"url": data.image_data_url}},
        ]}]
        payload = {"text": data.post_text, "image": data.image_sha256}
        return await self.cached(payload, messages, ImageDescription, retry_failed)

    def merge(self, state: PostState, data: ImageDescriptionInput,
              output: ImageDescription) -> PostState:
        image = ImageRef(file=data.image_file, sha256=data.image_sha256,
                         description=output.description)
        return state.model_copy(update={"image": image,
                                        "image_description": output.description})
