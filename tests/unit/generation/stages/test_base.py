"""The stage contract is checked when a stage class is defined, not when it first runs."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from kg_builder.core.models import KeyInfo
from kg_builder.generation.stages.base import PostState, Stage
from kg_builder.generation.stages.image_description import ImageDescriptionStage
from kg_builder.generation.stages.intentions import IntentionsStage
from kg_builder.generation.stages.key_information import KeyInformationInput, KeyInformationStage


class In(BaseModel):
    text: str


class Out(BaseModel):
    text: str


def test_the_three_stages_declare_the_placeholders_their_template_has() -> None:
    import string

    from kg_builder.core.resources import PROMPTS_DIR

    for stage in (ImageDescriptionStage, KeyInformationStage, IntentionsStage):
        text = (PROMPTS_DIR / f"{stage.template_name}.txt").read_text(encoding="utf-8")
        found = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        assert found == stage.placeholders and found, stage
    assert KeyInformationStage.output_model is KeyInfo
    assert KeyInformationStage.input_model is KeyInformationInput


def test_a_stage_without_its_declarations_is_refused() -> None:
    with pytest.raises(TypeError, match="must declare `template_name`"):
        class Incomplete(Stage[In, Out]):
            name = "incomplete"

            async def run(self, data: In, retry_failed: bool = True) -> Out:
                return Out(text=data.text)


def test_a_stage_whose_run_is_not_async_is_refused() -> None:
    with pytest.raises(TypeError, match=re.escape("must define `async def run")):
        class Blocking(Stage[In, Out]):
            name, template_name, placeholders = "blocking", "x", frozenset({"post_text"})
            input_model, output_model = In, Out

            def run(self, data: In, retry_failed: bool = True) -> Out:  # type: ignore[override]
                return Out(text=data.text)


def test_a_stage_whose_run_is_annotated_with_other_models_is_refused() -> None:
    with pytest.raises(TypeError, match=r"must be annotated \(data: In\) -> Out"):
        class Mistyped(Stage[In, Out]):
            name, template_name, placeholders = "mistyped", "x", frozenset({"post_text"})
            input_model, output_model = In, Out

            async def run(self, data: In, retry_failed: bool = True) -> In:  # type: ignore[override]
                return data


def test_a_well_formed_stage_is_accepted() -> None:
    class Echo(Stage[In, Out]):
        name, template_name, placeholders = "echo", "x", frozenset({"post_text"})
        input_model, output_model = In, Out

        async def run(self, data: In, retry_failed: bool = True) -> Out:
            return Out(text=data.text)

        async def prepare(self, state: PostState) -> In:
            return In(text=state.post.text)

    from kg_builder.generation.prompts import PromptTemplate

    fits = PromptTemplate(name="x", text="{post_text}", placeholders=frozenset({"post_text"}))
    wrong = PromptTemplate(name="x", text="{other}", placeholders=frozenset({"other"}))
    assert Echo(None, None, "m", template=fits).template is fits  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"has placeholders \['other'\], not \['post_text'\]"):
        Echo(None, None, "m", template=wrong)  # type: ignore[arg-type]


def test_progress_lines_say_done_rate_and_time_left() -> None:
    from kg_builder.generation.pipeline import ProgressLines

    said: list[str] = []
    lines = ProgressLines(total=100, every_s=3600, write=said.append)
    lines.tick(1, 1, 0)
    assert said == []  # not yet time for a line
    lines.every_s = 0
    lines.tick(40, 38, 2)
    assert said[-1].startswith("building: 40 of 100 posts done (38 built, 2 dead-lettered)")
    assert "posts/s" in said[-1] and "min left" in said[-1]
    lines.tick(100, 97, 3, final=True)
    assert "min left" not in said[-1] and "100 of 100" in said[-1]
