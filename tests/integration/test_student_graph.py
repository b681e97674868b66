"""`miko student train` with no file learns from the graph: the train split's kept intentions,
filtered by the typicality the critic stored on each edge at load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main

pytestmark = pytest.mark.graph


def test_the_student_trains_on_the_graphs_kept_intentions(
        empty_graph: Any, settings: Any, data_dir: Path, tmp_path: Path) -> None:
    posts = json.loads((data_dir / "miko" / "train.json").read_text(encoding="utf-8"))[:14]
    release = tmp_path / "train.json"
    release.write_text(json.dumps(posts), encoding="utf-8")
    runner = CliRunner()
    loaded = runner.invoke(main, ["load-release", str(release)])
    assert loaded.exit_code == 0, loaded.output
    out = tmp_path / "student"
    result = runner.invoke(main, ["student", "train", "--out", str(out), "--max-steps", "1",
                                  "--batch-size", "2", "--valid-fraction", "0.2", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    data = manifest["data"]
    kept = {(f"miko:train:{p['image'].rsplit('.', 1)[0]}", n) for p in posts
            for n, label in enumerate(p["intention_labels"]) if label == 1
            and p["intentions"].get(f"Intention {n + 1}", "").strip()}
    assert data["source"] == "graph" and data["split"] == "train"
    assert data["train_posts"] + data["valid_posts"] == len({post for post, _ in kept})
    assert data["train_examples"] + data["valid_examples"] == len(kept)
    # only the edges the critic scored at least the median typicality of the kept ones
    rows, _, _ = empty_graph.execute_query(
        "MATCH (:Post {split: 'train'})-[r]->(i:Intention) WHERE r.label = 1 AND i.tail <> '' "
        "RETURN r.typicality AS t ORDER BY t", database_=settings.neo4j_database)
    scores = [r["t"] for r in rows]
    assert len(scores) == len(kept) and all(s is not None for s in scores)
    threshold = round(scores[len(scores) // 2], 4)
    strict = runner.invoke(main, ["student", "train", "--out", str(tmp_path / "strict"),
                                  "--max-steps", "1", "--batch-size", "2", "--valid-fraction",
                                  "0.2", "--min-typicality", str(threshold), "--json"])
    assert strict.exit_code == 0, strict.output
    chosen = json.loads(strict.stdout)["data"]
    assert chosen["min_typicality"] == threshold
    assert chosen["train_examples"] + chosen["valid_examples"] == sum(
        s >= threshold for s in scores) < len(kept)
