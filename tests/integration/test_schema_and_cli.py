"""Schema, bad input, injection and model-mismatch behaviour against the real server."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from kg_builder.core.errors import EmbeddingModelMismatchError, IndexBuildError
from kg_builder.core.models import PostRecord
from kg_builder.core.relations import Relation
from kg_builder.core.settings import IndexOptions
from kg_builder.embeddings import Vectors
from kg_builder.graph.queries.admin import our_indexes
from kg_builder.graph.queries.write import Rows
from kg_builder.graph.schema import (
    await_indexes,
    create_vector_indexes,
    drop_vector_indexes,
    index_states,
    init_schema,
)
from kg_builder.loading.loader import GraphLoader

pytestmark = pytest.mark.graph


def test_schema_init_twice_is_a_no_op(empty_graph: Any, settings: Any, embedder: Any) -> None:
    first = index_states(empty_graph, settings.neo4j_database)
    init_schema(empty_graph, settings.neo4j_database, embedder.model_name, embedder.dimension)
    result = CliRunner().invoke(main, ["db", "init"])
    assert result.exit_code == 0, result.output
    second = index_states(empty_graph, settings.neo4j_database)
    assert sorted(i["name"] for i in first) == sorted(i["name"] for i in second)
    names = {i["name"] for i in second}
    assert {"post_embedding", "intention_embedding", "post_text", "intention_text"} <= names
    assert not {f"intention_embedding_{r.label.lower()}" for r in Relation} & names
    constraints, _, _ = empty_graph.execute_query("SHOW CONSTRAINTS YIELD name RETURN name",
                                                  database_=settings.neo4j_database)
    assert {"post_id", "intention_id", "image_id", "keyword_name"} <= {c["name"] for c in constraints}


def test_bad_records_are_reported_and_the_rest_loads(
    empty_graph: Any, settings: Any, tmp_path: Path
) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "ok-1", "text": "a calm lake at dawn",
                    "key_info": {"concept": "Nature", "emotion": "Calm",
                                 "keywords": ["lake", "dawn", "Lake "]}}),
        "{broken",
        json.dumps({"id": "ok-2", "text": "second post", "intentions": {
            "xWant": "After posting this Tweet, the user wants to relax.",
            "oReact": "After viewing this Tweet, others feel calm."}}),
        json.dumps({"id": "bad-rel", "text": "x", "intentions": {"likes": "y"}}),
    ]) + "\n")
    rejects = tmp_path / "rejects.jsonl"
    result = CliRunner().invoke(main, ["load-posts", str(path), "--rejects", str(rejects)])
    assert result.exit_code == 1
    assert f"rejected {path}:2: invalid JSON" in result.output
    assert f"rejected {path}:4:" in result.output and "likes" in result.output
    assert "2 record(s) rejected" in result.output
    assert [json.loads(line)["line"] for line in rejects.read_text().splitlines()] == [2, 4]
    records, _, _ = empty_graph.execute_query(
        "MATCH (p:Post) RETURN p.id AS id ORDER BY id", database_=settings.neo4j_database)
    assert [r["id"] for r in records] == ["ok-1", "ok-2"]
    kw, _, _ = empty_graph.execute_query(
        "MATCH (:Post {id:'ok-1'})-[:HAS_KEYWORD]->(k:Keyword) RETURN k.name AS n ORDER BY n",
        database_=settings.neo4j_database)
    assert [r["n"] for r in kw] == ["dawn", "lake"]  # deduplicated by normalised name


def test_injection_text_is_stored_verbatim_and_harmless(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    nasty = "x'}) DETACH DELETE n // `backtick` $param \u200b MATCH (m) DELETE m"
    loader = GraphLoader(empty_graph, embedder, settings.neo4j_database)
    summary = loader.load([PostRecord(id="evil'}) RETURN 1 //", text=nasty, source="test")],
                          progress=False)
    assert summary.posts_loaded == 1
    records, _, _ = empty_graph.execute_query(
        "MATCH (p:Post) RETURN p.id AS id, p.text AS text", database_=settings.neo4j_database)
    assert [(r["id"], r["text"]) for r in records] == [("evil'}) RETURN 1 //", nasty)]
    labels, _, _ = empty_graph.execute_query("CALL db.labels() YIELD label RETURN collect(label) AS l",
                                             database_=settings.neo4j_database)
    assert set(labels[0]["l"]) <= {"Post", "KGMeta", "Intention", "Image", "Concept", "Action",
                                   "Object", "Emotion", "Keyword", *(r.label for r in Relation)}


def test_other_embedding_model_is_refused_with_the_fix(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    with pytest.raises(EmbeddingModelMismatchError) as info:
        init_schema(empty_graph, settings.neo4j_database, "other/model", 768)
    msg = str(info.value)
    assert "sentence-transformers/all-MiniLM-L6-v2" in msg and "other/model" in msg
    assert "miko db reembed" in msg

    class OtherModel:
        model_name = "other/model"
        dimension = 384

        def embed(self, texts: Sequence[str]) -> Vectors:
            vectors: Vectors = embedder.embed(texts)
            return vectors

    with pytest.raises(EmbeddingModelMismatchError):
        GraphLoader(empty_graph, OtherModel(), settings.neo4j_database).load([], progress=False)


def test_missing_release_path_is_a_clear_cli_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["load-release", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no such file or folder" in result.output


def test_reload_replaces_a_posts_intentions_from_the_same_source(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    from kg_builder.core.models import IntentionRecord

    db = settings.neo4j_database

    def post(pid: str, want: str, react: str) -> PostRecord:
        return PostRecord(id=pid, text=f"post {pid}", source="s", intentions=[
            IntentionRecord(relation=Relation.X_WANT,
                            text=f"After posting this Tweet, the user wants to {want}."),
            IntentionRecord(relation=Relation.X_REACT,
                            text=f"After posting this Tweet, the user feels {react}."),
        ])

    loader = GraphLoader(empty_graph, embedder, db, defer_vector_indexes=False)
    loader.load([post("a", "rest", "happy"), post("b", "rest", "calm")], progress=False)
    summary = GraphLoader(empty_graph, embedder, db).load([post("a", "sleep", "happy")],
                                                          progress=False)
    rows, _, _ = empty_graph.execute_query(
        "MATCH (p:Post)-[r]->(i:Intention) RETURN p.id AS p, type(r) AS t, i.tail AS tail "
        "ORDER BY p, t", database_=db)
    assert [(r["p"], r["t"], r["tail"]) for r in rows] == [
        ("a", "X_REACT", "happy."), ("a", "X_WANT", "sleep."),
        ("b", "X_REACT", "calm."), ("b", "X_WANT", "rest.")]
    # "rest." is still b's, so the node stays; nothing was orphaned.
    assert summary.stale_intentions_removed == 0
    summary = GraphLoader(empty_graph, embedder, db).load([post("b", "run", "calm")],
                                                          progress=False)
    assert summary.stale_intentions_removed == 1  # "rest." has no post left
    tails, _, _ = empty_graph.execute_query("MATCH (i:Intention) RETURN i.tail AS t ORDER BY t",
                                            database_=db)
    assert [r["t"] for r in tails] == ["calm.", "happy.", "run.", "sleep."]


def test_up_says_each_step_and_ends_with_urls_and_queries_that_work(
        empty_graph: Any, settings: Any, embedder: Any, data_dir: Path, tmp_path: Path) -> None:
    import re

    from starlette.testclient import TestClient

    from kg_api.app import create_app

    release = tmp_path / "release"
    release.mkdir()
    posts = json.loads((data_dir / "miko" / "train.json").read_text(encoding="utf-8"))[:20]
    (release / "train.json").write_text(json.dumps(posts), encoding="utf-8")
    result = CliRunner().invoke(main, ["up", "--data", str(release), "--no-serve"])
    assert result.exit_code == 0, result.output
    out = result.output
    for n, what in enumerate(("Neo4j", "loading the MIKO benchmark", "the graph"), start=1):
        assert re.search(rf"== \[{n}/3\] {what}.*\[t=\d+s\]", out), out
    assert "miko-kg is up" in out and "20 posts" in out
    assert f"http://{settings.api_host}:{settings.api_port}/graphql" in out
    assert settings.browser_url in out and f"user {settings.neo4j_user}" in out
    bodies = [json.loads(m.replace("'\\''", "'")) for m in re.findall(r"-d '(\{.*\})'$", out, re.M)]
    assert len(bodies) == 3
    with TestClient(create_app(settings, embedder=embedder)) as client:
        for body in bodies:  # every query the screen offers answers with data
            answer = client.post("/graphql", json=body).json()
            assert "errors" not in answer, answer
            assert all(answer["data"].values()), answer


def test_vector_indexes_are_built_with_the_configured_hnsw_parameters(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    db = settings.neo4j_database

    def rebuilt(options: IndexOptions) -> set[tuple[int, int, str]]:
        drop_vector_indexes(empty_graph, db)
        create_vector_indexes(empty_graph, db, embedder.dimension, options)
        records, _, _ = empty_graph.execute_query(
            "SHOW VECTOR INDEXES YIELD name, options RETURN name, options", database_=db)
        assert {"intention_embedding", "post_embedding"} <= {r["name"] for r in records}
        return {(c["vector.hnsw.m"], c["vector.hnsw.ef_construction"],
                 c["vector.quantization.type"])
                for c in (r["options"]["indexConfig"] for r in records)}

    assert settings.index_options == IndexOptions(hnsw_m=32, hnsw_ef_construction=100,
                                                  quantization="SCALAR")
    assert rebuilt(IndexOptions(hnsw_m=24, hnsw_ef_construction=60, quantization="BINARY")
                   ) == {(24, 60, "BINARY")}
    assert rebuilt(settings.index_options) == {(32, 100, "SCALAR")}  # the defaults the table chose


def test_the_wait_for_a_long_index_build_reports_progress_and_a_timeout_names_the_index(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    # (A load at the paper's scale once failed here: the wait gave up after 600 s while the
    # global index over 1.36M vectors was still building, as it does for ~18-55 minutes.)
    db = settings.neo4j_database
    drop_vector_indexes(empty_graph, db)
    vectors = np.random.default_rng(3).standard_normal((20_000, embedder.dimension))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    for start in range(0, len(vectors), 5_000):
        empty_graph.execute_query(
            "UNWIND $rows AS row CREATE (i:Intention {id: row.id}) "
            "WITH i, row CALL db.create.setNodeVectorProperty(i, 'embedding', row.v)",
            rows=Rows({"id": f"wait-{i}", "v": vectors[i].tolist()}
                      for i in range(start, start + 5_000)), database_=db)
    create_vector_indexes(empty_graph, db, embedder.dimension, settings.index_options)

    with pytest.raises(IndexBuildError, match=r"still building after 0 s: .*intention_embedding "
                                               r"\(\d+%\)\. The data is written"):
        await_indexes(empty_graph, db, timeout_s=0)

    seen: list[list[tuple[str, float]]] = []
    await_indexes(empty_graph, db, progress=seen.append, poll_s=0.1)
    percents = [dict(pending)["intention_embedding"] for pending in seen
                if "intention_embedding" in dict(pending)]
    assert percents, seen  # it was building when the wait began, and the wait said so
    assert percents == sorted(percents) and all(0 <= p <= 100 for p in percents), percents
    states = {r["name"]: r["state"] for r in index_states(empty_graph, db)}
    assert all(states[name] == "ONLINE" for name in our_indexes() if name in states), states


def test_db_init_gives_posts_of_an_older_graph_their_has_image(
    empty_graph: Any, settings: Any
) -> None:
    db = settings.neo4j_database
    empty_graph.execute_query(
        "CREATE (:Post {id: 'old:1', text: 'a'})-[:HAS_IMAGE]->(:Image {id: 'old-img'}), "
        "(:Post {id: 'old:2', text: 'b'}), (:Post {id: 'new:3', text: 'c', has_image: false})",
        database_=db)
    result = CliRunner().invoke(main, ["db", "init"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r["h"] for r in empty_graph.execute_query(
        "MATCH (p:Post) RETURN p.id AS id, p.has_image AS h", database_=db).records}
    assert rows == {"old:1": True, "old:2": False, "new:3": False}
