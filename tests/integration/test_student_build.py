"""`miko build` / `ingest` with the student: examples from the graph's train split (real Neo4j),
completions from a server that has the student (the OpenAI-compatible double on 127.0.0.1, as
vLLM with --enable-lora would be), provenance on every edge, a rerun that pays nothing, and a
post whose answers keep failing the checks dead-lettered with the relation and the reason."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from kg_builder.core.models import PostRecord
from kg_builder.core.relations import Relation, split_tail
from kg_builder.generation.fewshot import PROMPT_VERSION
from kg_builder.student.training import file_sha256
from tests.llm_double import Faults, running_double

pytestmark = pytest.mark.graph


def fake_student(folder: Path) -> str:
    """A student folder (manifest and adapter file) as `miko student train` writes one; the
    server behind MIKO_STUDENT_BASE_URL answers for it, so the adapter is never loaded here."""
    folder.mkdir()
    (folder / "adapter.gguf").write_bytes(b"GGUF adapter bytes")
    (folder / "manifest.json").write_text(json.dumps({
        "id": "f00dfeed1234", "prompt_version": PROMPT_VERSION,
        "gguf_adapter": {"file": "adapter.gguf", "sha256": file_sha256(folder / "adapter.gguf")}}))
    return "student:f00dfeed1234"


def test_the_student_writes_with_the_graphs_examples_and_names_itself(
        empty_graph: Any, settings: Any, data_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    posts = json.loads((data_dir / "miko" / "train.json").read_text(encoding="utf-8"))[:12]
    release = tmp_path / "train.json"
    release.write_text(json.dumps(posts), encoding="utf-8")
    runner = CliRunner()
    loaded = runner.invoke(main, ["load-release", str(release)])
    assert loaded.exit_code == 0, loaded.output
    student = fake_student(tmp_path / "student")
    inp = tmp_path / "posts.jsonl"
    inp.write_text("".join(json.dumps({"id": f"new:{i}", "text": p["text"] + " again"}) + "\n"
                           for i, p in enumerate(posts[:3])))
    with running_double(Faults()) as (url, faults):
        monkeypatch.setenv("MIKO_LLM_BASE_URL", url)
        monkeypatch.setenv("MIKO_LLM_MODEL", "double")
        monkeypatch.setenv("MIKO_STUDENT_BASE_URL", url)
        monkeypatch.setenv("MIKO_STUDENT", str(tmp_path / "student"))
        out = tmp_path / "run.jsonl"
        result = runner.invoke(main, ["ingest", str(inp), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert f"intentions by {student} (2 examples each from " in result.output
        plain = [r for r in faults.requests if "prompt" in r]
        assert len(plain) == 3 * len(Relation)
        assert {r["model"] for r in plain} == {"miko-student"}
        # each prompt shows two train posts' kept tails of its relation, never the post itself
        kept = {(rel, " ".join(split_tail(rel, p["intentions"][rel.spec.miko_key])[0].split()))
                for p in posts for rel in Relation
                if p["intention_labels"][int(rel.spec.miko_key.split()[-1]) - 1] == 1}
        texts = {" ".join(p["text"].split()) for p in posts}
        for r in plain:
            lines = r["prompt"].split("\n")
            relation = next(rel for rel in Relation if lines[-1] == rel.spec.template)
            examples = [(lines[i][len("Post: "):], lines[i + 1])
                        for i in range(2, len(lines) - 2, 3)]
            assert len(examples) == 2, r["prompt"]
            for text, answer in examples:
                assert text in texts and text != lines[-2][len("Post: "):]
                assert (relation, answer[len(relation.spec.template) + 1:]) in kept, answer
        built = [PostRecord.model_validate_json(line) for line in out.read_text().splitlines()]
        assert {i.model for p in built for i in p.intentions} == {student}
        rows, _, _ = empty_graph.execute_query(
            "MATCH (p:Post)-[r]->(:Intention) WHERE p.id STARTS WITH 'new:' "
            "RETURN collect(DISTINCT r.model) AS models, count(r) AS n",
            database_=settings.neo4j_database)
        assert rows[0]["models"] == [student] and rows[0]["n"] == 3 * len(Relation)

        calls = faults.calls
        again = runner.invoke(main, ["build", str(inp), "--out", str(out)])
        assert again.exit_code == 0 and faults.calls == calls, again.output

        # a post whose answers keep a placeholder: each asked three times, then the post is
        # dead-lettered with the relation and the reason
        one = tmp_path / "one.jsonl"
        one.write_text(json.dumps({"id": "new:bad", "text": "copy the placeholder"}) + "\n")
        calls = faults.calls
        bad = runner.invoke(main, ["build", str(one), "--out", str(tmp_path / "bad.jsonl")])
        assert bad.exit_code == 1, bad.output
        dead = json.loads((tmp_path / "bad.dead.jsonl").read_text())
        assert dead["stage"] == "student_intentions"
        assert re.match(r"invalid_answer: \w+: keeps a placeholder from the prompt: "
                        r"'\[brief description\]' .*\(after 3 answers\)", dead["reason"]), dead
        asked = [r for r in faults.requests[calls:] if "prompt" in r]
        assert [r["temperature"] for r in asked[:1]] == [0.0]
        assert sorted({r["temperature"] for r in asked}) == [0.0, 0.8]
