"""End to end through the real packaged local model (SmolLM2-135M via llama-cpp-python) and the
packaged student (its LoRA adapter on a second llama.cpp server): 20 MIKO posts -> stages ->
graph, with no model server configured and default settings."""

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
from kg_builder.generation.stages.intentions import _PLACEHOLDER as PLACEHOLDER
from kg_builder.generation.stages.intentions import continuation_of
from kg_builder.inputs.readers import MikoReader
from kg_builder.student.serving import PACKAGED_STUDENT

pytestmark = pytest.mark.graph

POSTS = 20  # "a test builds at least 20 posts this way in CI"


def test_ingest_offline_with_the_local_default_model(
    tmp_path: Path, empty_graph: Any, settings: Any, data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MIKO_LLM_BASE_URL", raising=False)
    for name in ("MIKO_LLM_CONCURRENCY", "MIKO_LLM_TIMEOUT_S", "MIKO_LLM_GRAMMAR",
                 "MIKO_LLM_STREAM", "MIKO_LLM_MAX_TOKENS", "MIKO_STUDENT",
                 "MIKO_STUDENT_EXAMPLES", "MIKO_STUDENT_SHOTS", "MIKO_STUDENT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)  # the defaults a new user gets
    posts = [r for r in MikoReader(data_dir / "miko" / "test.json")
             if isinstance(r, PostRecord)][:POSTS]
    inp = tmp_path / "posts.jsonl"
    inp.write_text("".join(json.dumps({"id": p.id, "text": p.text}) + "\n" for p in posts))
    out = tmp_path / "run.jsonl"
    result = CliRunner().invoke(main, ["ingest", str(inp), "--out", str(out)])
    assert result.exit_code == 0, result.output
    student = "student:" + json.loads((PACKAGED_STUDENT / "manifest.json").read_text())["id"]
    assert "packaged local model SmolLM2-135M-Instruct writes the key information" in result.output
    assert f"intentions by {student} (no examples)" in result.output  # an empty graph
    assert "holds no train-split post with kept intentions" in result.output
    assert re.search(r"local model: \d+ tokens/s here; answers stream", result.output)
    assert result.output.count("reached 1 (ceiling 1)") == 2  # each server's one slot
    assert re.search(rf"building: \d+ of {POSTS} posts done .* posts/s, about", result.output)
    built = [PostRecord.model_validate_json(line) for line in out.read_text().splitlines()]
    assert out.with_suffix(".dead.jsonl").read_text() == ""
    assert len(built) == POSTS, result.output
    for post in built:
        assert [i.relation for i in post.intentions] == list(Relation)
        assert {i.model for i in post.intentions} == {student}
        assert post.key_info is not None and 3 <= len(post.key_info.keywords) <= 5
        for i in post.intentions:
            template = i.relation.spec.template
            assert i.text.startswith(template + " "), i.text
            tail, matched = split_tail(i.relation, i.text)
            assert matched and continuation_of(i.relation, tail) == tail, i.text  # no echo
            assert not PLACEHOLDER.search(tail) and "[" not in tail, i.text
            assert template.lower() not in tail.lower(), i.text  # never doubled
    rows, _, _ = empty_graph.execute_query(
        "MATCH (p:Post)-[r]->(i:Intention) RETURN p.id AS p, count(r) AS n, "
        "collect(DISTINCT r.model)[0] AS model, collect(r.text) AS texts",
        database_=settings.neo4j_database)
    assert {r["p"] for r in rows} == {p.id for p in built}
    assert all(r["n"] == 10 and r["model"] == student for r in rows)
    stored = [t for r in rows for t in r["texts"]]
    assert len(stored) == 10 * POSTS and not any(PLACEHOLDER.search(t) for t in stored)
