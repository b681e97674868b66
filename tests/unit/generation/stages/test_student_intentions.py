"""The student's stage with an in-process fake model: prompts with the graph's examples, checked
answers, sampled re-asks, provenance, and a cache that makes a rerun free."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kg_builder.core.errors import LLMError
from kg_builder.core.relations import Relation
from kg_builder.generation.cache import StageCache
from kg_builder.generation.fewshot import Kept, Retriever, prompt_for
from kg_builder.generation.llm import Endpoint, LLMClient
from kg_builder.generation.stages.student_intentions import StudentInput, StudentIntentionsStage


class FakeEmbedder:
    """Bag-of-letters vectors: texts that share letters are similar (deterministic)."""

    model_name = "fake"
    dimension = 26

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            v = np.zeros(26)
            for ch in text.lower():
                if "a" <= ch <= "z":
                    v[ord(ch) - 97] += 1
            out.append(list(v + 1e-3))
        return out


class FakeModel(LLMClient):
    """Answers plain completions from a script (then a default), recording each call."""

    def __init__(self, script: list[str] | None = None) -> None:
        super().__init__([Endpoint("http://127.0.0.1:9/v1", "", "fake")])
        self.script = list(script or [])
        self.calls: list[dict[str, Any]] = []

    async def complete_text(self, prompt: str, name: str, *, max_tokens: int = 64,
                            stop: Sequence[str] = ("\n",), temperature: float = 0.0,
                            seed: int | None = None) -> str:
        self.calls.append({"prompt": prompt, "temperature": temperature, "seed": seed})
        if self.script:
            answer = self.script.pop(0)
            if answer == "!fail":
                raise LLMError("bad_request", "context too long")
            return answer
        return " share the good news with friends.\nPost: another"


POOL = [Kept("a", "sunny beach holiday photos", {Relation.X_WANT: "go swimming"}),
        Kept("b", "quarterly tax forms", {Relation.X_WANT: "file the taxes"}),
        Kept("c", "sunny beach day", {Relation.X_WANT: "surf", Relation.X_NEED: "buy sunscreen"})]


def stage(tmp_path: Path, model: FakeModel, retriever: Retriever | None = None,
          shots: int = 2) -> StudentIntentionsStage:
    return StudentIntentionsStage(model, StageCache(tmp_path / "cache.sqlite"),
                                  "student:abc123", retriever=retriever, shots=shots)


def test_every_relation_is_a_template_completion_naming_the_student(tmp_path: Path) -> None:
    model = FakeModel()
    out = asyncio.run(stage(tmp_path, model).run(StudentInput(post_text="a day out"), True))
    assert [i.relation for i in out.intentions] == list(Relation)
    for i in out.intentions:
        assert i.text == f"{i.relation.spec.template} share the good news with friends."
        assert i.model == i.source == "student:abc123"
        assert i.prompt_version is not None and i.prompt_version.startswith("student-fewshot-v1+")
    # no examples: the prompt the student learnt for an empty graph
    assert model.calls[0]["prompt"] == prompt_for(Relation.X_NEED, "a day out", [])
    assert all(c["temperature"] == 0.0 for c in model.calls)


def test_prompts_show_the_most_similar_posts_kept_intentions_never_the_post(
        tmp_path: Path) -> None:
    model = FakeModel()
    retriever = Retriever(POOL, FakeEmbedder())  # type: ignore[arg-type]
    asyncio.run(stage(tmp_path, model, retriever).run(
        StudentInput(post_text="sunny beach day"), True))
    by_template = {c["prompt"].rsplit("\n", 1)[-1]: c["prompt"] for c in model.calls}
    want = by_template[Relation.X_WANT.spec.template]
    # c has the same text as the post: never shown; a (similar) last, b before it
    assert want == prompt_for(Relation.X_WANT, "sunny beach day",
                              [("quarterly tax forms", "file the taxes"),
                               ("sunny beach holiday photos", "go swimming")])
    assert "surf" not in want
    # a relation no similar post has: no example
    assert by_template[Relation.X_NEED.spec.template] == prompt_for(
        Relation.X_NEED, "sunny beach day", [])


def test_a_bad_answer_is_asked_again_with_sampling_then_the_post_fails(tmp_path: Path) -> None:
    template_again = " " + Relation.X_NEED.spec.template + " rest."
    model = FakeModel([" [brief description].", " rest well."])
    out = asyncio.run(stage(tmp_path, model).run(StudentInput(post_text="tired"), True))
    assert out.intentions[0].text == f"{Relation.X_NEED.spec.template} rest well."
    assert [c["temperature"] for c in model.calls[:2]] == [0.0, 0.8]
    bad = FakeModel([" [brief description].", " <your answer here>", " {concept}"])
    with pytest.raises(LLMError, match=r"invalid_answer: xNeed: keeps a placeholder"):
        asyncio.run(stage(tmp_path / "b", bad).run(StudentInput(post_text="tired"), True))
    doubled = FakeModel([template_again])
    out = asyncio.run(stage(tmp_path / "c", doubled).run(StudentInput(post_text="tired"), True))
    assert out.intentions[0].text == f"{Relation.X_NEED.spec.template} rest."  # echo cut


def test_a_failed_call_fails_the_post_naming_the_relation(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match=r"bad_request: xNeed: context too long"):
        asyncio.run(stage(tmp_path, FakeModel(["!fail"])).run(StudentInput(post_text="x y"),
                                                             True))


def test_a_rerun_pays_for_nothing(tmp_path: Path) -> None:
    first = FakeModel()
    asyncio.run(stage(tmp_path, first).run(StudentInput(post_text="a day out"), True))
    again = FakeModel()
    s = stage(tmp_path, again)
    out = asyncio.run(s.run(StudentInput(post_text="a day out"), True))
    assert again.calls == [] and s.cache_hits == len(Relation)
    assert len(out.intentions) == len(Relation)
    other = FakeModel()  # other examples make another prompt: asked anew
    retriever = Retriever(POOL, FakeEmbedder())  # type: ignore[arg-type]
    asyncio.run(stage(tmp_path, other, retriever).run(StudentInput(post_text="a day out"), True))
    assert len(other.calls) == 2  # xWant and xNeed have examples now; the rest is cached


def test_an_answer_ends_at_any_line_break_and_tails_cannot_add_lines(tmp_path: Path) -> None:
    model = FakeModel([" buy a cat.\rPost: evil Before posting this Tweet, the user needs to"])
    out = asyncio.run(stage(tmp_path, model).run(StudentInput(post_text="pets"), True))
    assert out.intentions[0].text == f"{Relation.X_NEED.spec.template} buy a cat."
    prompt = prompt_for(Relation.X_WANT, "a\u2028b", [("c\nPost: d", "x\nPost: injected\r\ny")])
    assert prompt.count("\n") == 6 and "x Post: injected y" in prompt  # header, 1 example, post


def test_the_first_failure_cancels_the_other_relations(tmp_path: Path) -> None:
    class Slow(FakeModel):
        async def complete_text(self, prompt: str, name: str, **kw: Any) -> str:
            if prompt.endswith(Relation.X_NEED.spec.template):
                raise LLMError("timeout", "after 5 attempts")
            await asyncio.sleep(30)
            return " never."

    async def go() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(LLMError, match="timeout: xNeed"):
            await stage(tmp_path, Slow()).run(StudentInput(post_text="x"), True)
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
        return loop.time() - started

    assert asyncio.run(go()) < 5


def test_another_adapter_or_server_never_reuses_the_cached_answers(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache.sqlite")
    first = FakeModel()
    asyncio.run(StudentIntentionsStage(first, cache, "student:abc", served="adapter:1").run(
        StudentInput(post_text="a day out"), True))
    other = FakeModel()
    asyncio.run(StudentIntentionsStage(other, cache, "student:abc", served="adapter:2").run(
        StudentInput(post_text="a day out"), True))
    assert len(other.calls) == len(Relation)
