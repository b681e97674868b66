"""End to end through the real packaged local model (SmolLM2-135M via llama-cpp-python):
a few MIKO posts -> stages -> graph, with no model server configured."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from kg_builder.core.models import PostRecord
from kg_builder.core.relations import Relation
from kg_builder.loading.readers import MikoReader

pytestmark = pytest.mark.graph


def test_ingest_offline_with_the_local_default_model(
    tmp_path: Path, empty_graph: Any, settings: Any, data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MIKO_LLM_BASE_URL", raising=False)
    monkeypatch.setenv("MIKO_LLM_CONCURRENCY", "2")
    monkeypatch.setenv("MIKO_LLM_TIMEOUT_S", "120")
    posts = [r for r in MikoReader(data_dir / "miko" / "test.json") if isinstance(r, PostRecord)][:3]
    inp = tmp_path / "posts.jsonl"
    inp.write_text("".join(json.dumps({"id": p.id, "text": p.text}) + "\n" for p in posts))
    out = tmp_path / "run.jsonl"
    result = CliRunner().invoke(main, ["ingest", str(inp), "--out", str(out)])
    assert "packaged local model SmolLM2-135M-Instruct" in result.output
    assert re.search(r"local model: \d+ tokens/s here, so up to \d+s an answer", result.output)
    assert "concurrency on http://127.0.0.1:" in result.output  # started at the server's one slot
    built = [PostRecord.model_validate_json(line) for line in out.read_text().splitlines()]
    dead = out.with_suffix(".dead.jsonl").read_text().splitlines()
    assert len(built) + len(dead) == 3, result.output
    assert built, result.output  # the grammar-constrained model gets at least one post through
    for post in built:
        assert {i.relation for i in post.intentions} == set(Relation)
        assert all(i.text.startswith(i.relation.spec.template) for i in post.intentions)
        assert post.key_info is not None and post.key_info.keywords
    rows, _, _ = empty_graph.execute_query(
        "MATCH (p:Post)-[r]->(:Intention) RETURN p.id AS p, count(r) AS n, "
        "collect(DISTINCT r.model)[0] AS model", database_=settings.neo4j_database)
    assert {r["p"] for r in rows} == {p.id for p in built}
    assert all(r["n"] == 10 and "smollm2" in r["model"].lower() for r in rows)
