"""MIKO_STUDENT: the packaged student is whole and answers this code's prompts; a folder that is
not a student, or one changed since training, is refused with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg_builder.core.errors import StudentError
from kg_builder.core.settings import Settings
from kg_builder.generation.fewshot import PROMPT_VERSION
from kg_builder.student.serving import PACKAGED_STUDENT, read_student, resolve_student
from kg_builder.student.training import file_sha256


def student(folder: Path, **changes: object) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "adapter.gguf").write_bytes(b"adapter")
    manifest = {"id": "0123456789ab", "prompt_version": PROMPT_VERSION,
                "gguf_adapter": {"file": "adapter.gguf",
                                 "sha256": file_sha256(folder / "adapter.gguf")}, **changes}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_the_packaged_student_is_whole_and_names_its_base_and_data() -> None:
    manifest = read_student(PACKAGED_STUDENT)
    assert manifest["gguf_path"].stat().st_size < 16 * 2**20  # a small adapter, not a model
    assert manifest["base"]["file"].lower().startswith("smollm2")
    assert manifest["data"]["label"] == 1 and manifest["data"]["valid_posts"] > 0
    assert manifest["prompt_version"] == PROMPT_VERSION


def test_a_folder_that_is_not_a_student_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(StudentError, match=r"no manifest.json there.*miko student train --out"):
        read_student(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2")
    with pytest.raises(StudentError, match="not a student manifest"):
        read_student(tmp_path)
    # the adapter is read only from the folder the user pointed at
    outside = student(tmp_path / "s", gguf_adapter={"file": "../s/adapter.gguf", "sha256": "x"})
    with pytest.raises(StudentError, match="is not a file name in the folder"):
        read_student(outside)
    odd = student(tmp_path / "odd", id="a/b\u202e")
    with pytest.raises(StudentError, match="is not 1-64 letters"):
        read_student(odd)


def test_a_changed_adapter_or_older_prompts_are_refused(tmp_path: Path) -> None:
    folder = student(tmp_path / "s")
    assert read_student(folder)["id"] == "0123456789ab"
    (folder / "adapter.gguf").write_bytes(b"another adapter")
    with pytest.raises(StudentError, match="not the adapter its manifest names"):
        read_student(folder)
    old = student(tmp_path / "old", prompt_version="student-fewshot-v0")
    with pytest.raises(StudentError, match=r"trained on prompts 'student-fewshot-v0'.*retrain"):
        read_student(old)


def test_off_is_the_chat_stage_and_a_folder_without_examples_writes_zero_shot(
        tmp_path: Path) -> None:
    assert resolve_student(Settings(student="off"), print) is None
    plan = resolve_student(Settings(student=str(student(tmp_path / "s")),
                                    student_examples="none"), print)
    assert plan is not None and plan.model == "student:0123456789ab" and plan.retriever is None
    assert plan.adapter == tmp_path / "s" / "adapter.gguf"
    assert "no examples" in plan.describe()


def test_the_adapter_may_not_be_a_link_nor_the_examples_a_folder(tmp_path: Path) -> None:
    folder = student(tmp_path / "s")
    real = folder / "adapter.gguf"
    moved = tmp_path / "elsewhere.gguf"
    real.rename(moved)
    real.symlink_to(moved)
    with pytest.raises(StudentError, match="is a link; copy the file into the folder"):
        read_student(folder)
    (tmp_path / "release").mkdir()
    with pytest.raises(StudentError, match="not a file; point it at one MIKO release file"):
        resolve_student(Settings(student=str(student(tmp_path / "t")),
                                 student_examples=str(tmp_path / "release")), print)
    deep = student(tmp_path / "deep")
    (deep / "manifest.json").write_text("[" * 100_000)
    with pytest.raises(StudentError, match="not a student manifest"):
        read_student(deep)
