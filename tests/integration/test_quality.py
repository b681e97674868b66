"""The quality loop on the real graph: every edge scored by the critic after a load, and the
API's quality filters return exactly the edges Cypher counts at or above the threshold."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kg_api.app import create_app
from kg_builder.inputs.readers import MikoReader
from kg_builder.loading.loader import GraphLoader
from kg_builder.quality.critic import load_critic
from kg_builder.quality.scoring import score_graph

pytestmark = pytest.mark.graph
THRESHOLD = 0.8


@pytest.fixture(scope="module")
def scored(driver: Any, settings: Any, embedder: Any, data_dir: Path) -> Iterator[Any]:
    from kg_builder.graph.schema import await_indexes, init_schema
    from tests.conftest import wipe

    db = settings.neo4j_database
    wipe(driver, db)
    init_schema(driver, db, embedder.model_name, embedder.dimension)
    GraphLoader(driver, embedder, db).load(MikoReader(data_dir / "miko" / "train.json"),
                                           progress=False)
    await_indexes(driver, db)
    critic = load_critic(None)
    summary = score_graph(driver, db, critic, progress=False)
    yield driver, critic, summary


def cypher(driver: Any, settings: Any, query: str, **params: Any) -> list[Any]:
    rows, _, _ = driver.execute_query(query, params, database_=settings.neo4j_database)
    return list(rows)


def test_every_edge_is_scored_after_a_load_and_a_rescore_is_free(scored: Any, settings: Any) -> None:
    driver, critic, summary = scored
    [row] = cypher(driver, settings, "MATCH (:Post)-[r]->(:Intention) RETURN count(r) AS n, "
                   "count(r.typicality) AS scored, min(r.typicality) AS low, "
                   "max(r.typicality) AS high, collect(DISTINCT r.critic_version) AS versions")
    assert row["n"] == row["scored"] == summary.edges > 7000
    assert 0.0 < row["low"] < row["high"] < 1.0
    assert row["versions"] == [critic.version]
    # Nothing changed: nothing to score again.
    assert score_graph(driver, settings.neo4j_database, critic, progress=False).edges == 0
    # A node's typicality is the best of its edges'.
    [bad] = cypher(driver, settings, "MATCH (i:Intention) "
                   "WITH i, COLLECT { MATCH (:Post)-[r]->(i) RETURN r.typicality } AS ts "
                   "WHERE i.typicality <> reduce(m = 0.0, t IN ts | CASE WHEN t > m THEN t ELSE m END) "
                   "RETURN count(i) AS n")
    assert bad["n"] == 0


def test_api_filters_match_cypher(scored: Any, settings: Any, embedder: Any) -> None:
    driver, _, _ = scored
    with TestClient(create_app(settings, embedder=embedder)) as client:
        def gql(query: str) -> Any:
            answer = client.post("/graphql", json={"query": query}).json()
            assert "errors" not in answer, answer
            return answer["data"]

        data = gql(f'{{ posts(first: 100) {{ edges {{ node {{ id '
                   f'intentions(minTypicality: {THRESHOLD}) {{ typicality critic label }} '
                   f'kept: intentions(label: 1) {{ label }} }} }} }} }}')
        nodes = [e["node"] for e in data["posts"]["edges"]]
        got = {n["id"]: len(n["intentions"]) for n in nodes}
        rows = cypher(driver, settings, "UNWIND $ids AS id MATCH (p:Post {id: id}) RETURN id, "
                      "COUNT { (p)-[r]->(:Intention) WHERE r.typicality >= $t } AS n, "
                      "COUNT { (p)-[r]->(:Intention) WHERE r.label = 1 } AS kept",
                      ids=list(got), t=THRESHOLD)
        assert got == {r["id"]: r["n"] for r in rows}
        assert {n["id"]: len(n["kept"]) for n in nodes} == {r["id"]: r["kept"] for r in rows}
        assert sum(got.values()) > 0
        assert all(i["typicality"] >= THRESHOLD and i["critic"].startswith("typicality-logreg")
                   for n in nodes for i in n["intentions"])

        hits = gql(f'{{ searchIntentions(text: "share excitement about a concert", k: 20, '
                   f'minTypicality: {THRESHOLD}) {{ intention {{ typicality }} }} }}')
        assert hits["searchIntentions"]
        assert all(h["intention"]["typicality"] >= THRESHOLD for h in hits["searchIntentions"])

        top = gql(f'{{ topIntentions(relation: X_WANT, k: 5, minTypicality: {THRESHOLD}) '
                  '{ posts intention { id } } }')["topIntentions"]
        expected = cypher(driver, settings, "MATCH (:Post)-[r:X_WANT]->(i:Intention) "
                          "WHERE r.typicality >= $t WITH i, count(r) AS posts "
                          "ORDER BY posts DESC, i.id LIMIT 5 RETURN i.id AS id, posts", t=THRESHOLD)
        assert [(t["intention"]["id"], t["posts"]) for t in top] == [
            (r["id"], r["posts"]) for r in expected]

        any_id = top[0]["intention"]["id"]
        similar = gql(f'{{ similarIntentions(id: "{any_id}", k: 10, minTypicality: {THRESHOLD}) '
                      '{ intention { typicality } } }')["similarIntentions"]
        assert all(h["intention"]["typicality"] >= THRESHOLD for h in similar)

        bad = client.post("/graphql", json={"query": '{ topIntentions(relation: X_WANT, '
                                            'minTypicality: 1.5) { posts } }'}).json()
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_sft_export_validates_and_splits_by_post(scored: Any, settings: Any, tmp_path: Path) -> None:
    from kg_builder.quality.export import SftRecord, export_sft

    driver, _, _ = scored
    summary = export_sft(driver, settings.neo4j_database, tmp_path, min_typicality=0.7,
                         valid_fraction=0.2, seed=3)
    seen: dict[str, set[str]] = {"train": set(), "valid": set()}
    answers = 0
    for split in seen:
        for line in (tmp_path / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            record = SftRecord.model_validate_json(line)  # the documented schema, strictly
            seen[split].add(record.id)
            roles = [m.role for m in record.messages]
            assert roles[0] == "system" and roles[1:] == ["user", "assistant"] * (len(roles) // 2)
            answers += roles.count("assistant")
            assert all("Post: " in m.content for m in record.messages if m.role == "user")
    assert not seen["train"] & seen["valid"]
    assert len(seen["train"]) == summary.posts["train"] > len(seen["valid"]) == summary.posts["valid"] > 0
    [row] = cypher(driver, settings, "MATCH (:Post)-[r]->(:Intention) WHERE r.typicality >= 0.7 "
                   "RETURN count(r) AS n")
    assert answers == summary.turns <= row["n"]  # one answer per post and relation
    # The same seed gives the same split; the manifest states the schema and the filters.
    again = export_sft(driver, settings.neo4j_database, tmp_path / "again", min_typicality=0.7,
                       valid_fraction=0.2, seed=3)
    assert again.posts == summary.posts
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["filters"] == {"min_typicality": 0.7, "label": None, "human_label": None}
    assert manifest["schema"]["title"] == "SftRecord"


def test_sarcasm_probe_runs_end_to_end(data_dir: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli import main

    runner = CliRunner()
    sample = tmp_path / "sample.jsonl"
    result = runner.invoke(main, ["probe", "sarcasm", "--sample", "60", "--sample-out", str(sample)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 60 and sum(r["sarcasm_label"] for r in rows) == 30
    assert [r["sarcasm_label"] for r in rows[:4]] == [1, 0, 1, 0]  # any prefix is balanced
    # A run over the sample, in `miko build`'s output format (the build itself is tested with
    # the model double elsewhere): one intention per post.
    run = tmp_path / "run.jsonl"
    run.write_text("".join(json.dumps({
        "id": r["id"], "text": r["text"], "source": "twitter_sarcasm",
        "intentions": [{"relation": "xIntent", "text": "The user posts this Tweet because the "
                        f"user intended to share {r['text'][:60]}"}]}) + "\n" for r in rows),
        encoding="utf-8")
    out = tmp_path / "probe.json"
    result = runner.invoke(main, ["probe", "sarcasm", "--run", str(run), "--folds", "5",
                                  "--json-out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["tweets"] == 60 and report["sarcastic"] == 30
    assert report["intentions_from"] == "runs"
    assert set(report["variants"]) == {"text", "text + intentions"}
    for v in report["variants"].values():
        assert 0 <= v["accuracy_interval"][0] <= v["accuracy"] <= v["accuracy_interval"][1] <= 100
    # Without a run: the MIKO tweets of the sarcasm set are all labelled 0, and it says so.
    result = runner.invoke(main, ["probe", "sarcasm"])
    assert result.exit_code != 0 and "are labelled 0" in result.output
