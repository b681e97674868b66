"""The build job's policy: which engine runs, and when the student writes the intentions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kg_builder.core.settings import Settings
from kg_builder.generation.pipeline import BuildSummary
from kg_builder.jobs import build as job

REQUEST = job.BuildRequest(Path("in.jsonl"), "jsonl", None, Path("out.jsonl"))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def single(*args: Any, student: Any = None, **kwargs: Any) -> BuildSummary:
        seen.append(("single", student))
        return BuildSummary()

    def resolve(settings: Settings, notify: Any) -> str:
        seen.append(("student resolved", settings.student))
        return "the student plan"

    monkeypatch.setattr(job, "run_build", single)
    monkeypatch.setattr(job, "resolve_student", resolve)
    return seen


def test_without_a_model_server_the_student_writes_the_intentions(
        calls: list[tuple[str, Any]]) -> None:
    job.build(Settings(llm_base_url=None), REQUEST, notify=lambda line: None)
    assert calls == [("student resolved", "packaged"), ("single", "the student plan")]


def test_with_a_model_server_its_chat_stage_does_unless_the_student_has_its_own(
        calls: list[tuple[str, Any]]) -> None:
    job.build(Settings(llm_base_url="http://127.0.0.1:1/v1", llm_model="m"), REQUEST,
              notify=lambda line: None)
    assert calls == [("single", None)]
    calls.clear()
    job.build(Settings(llm_base_url="http://127.0.0.1:1/v1", llm_model="m",
                       student_base_url="http://127.0.0.1:2/v1"), REQUEST, notify=lambda line: None)
    assert [c[0] for c in calls] == ["student resolved", "single"]


def test_the_ray_engine_is_chosen_by_the_request_or_the_settings(
        monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]]) -> None:
    from kg_builder.generation import ray_engine

    said: list[str] = []

    def ray(settings: Settings, *args: Any, **kwargs: Any) -> BuildSummary:
        calls.append(("ray", args[-1].workers))
        return BuildSummary()

    monkeypatch.setattr(ray_engine, "run_build_ray", ray)
    settings = Settings(llm_base_url="http://127.0.0.1:1/v1", llm_model="m", ray_workers=3,
                        student_base_url="http://127.0.0.1:2/v1")
    job.build(settings, job.BuildRequest(**{**REQUEST.__dict__, "engine": "ray"}), said.append)
    assert calls == [("ray", 3)]
    assert "MIKO_STUDENT* apply to the single engine" in said[0]
    calls.clear()
    job.build(Settings(llm_base_url="http://127.0.0.1:1/v1", llm_model="m", build_engine="ray"),
              REQUEST, said.append)
    assert calls == [("ray", 2)]
