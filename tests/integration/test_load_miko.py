"""Loading the MIKO benchmark into the real Neo4j server: exact counts, idempotency, quirks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from kg_builder.core.relations import Relation, intention_id, split_tail
from kg_builder.inputs.readers import MikoReader
from kg_builder.loading.loader import GraphLoader

pytestmark = pytest.mark.graph


def expected_counts(miko_dir: Path) -> dict[str, Any]:
    """Counts computed straight from the release files (not through the reader)."""
    posts: dict[tuple[str, str], dict[str, Any]] = {}
    for split in ("train", "test"):
        for p in json.loads((miko_dir / f"{split}.json").read_text()):
            posts.setdefault((split, p["image"]), p)
    edges = {r.value: 0 for r in Relation}
    nodes: dict[str, set[str]] = {r.value: set() for r in Relation}
    keys = {f"Intention {i}": r for i, r in enumerate(
        [Relation.X_WANT, Relation.O_EFFECT, Relation.X_ATTR, Relation.X_INTENT, Relation.X_REACT,
         Relation.O_REACT, Relation.O_WANT, Relation.X_EFFECT, Relation.X_NEED, Relation.OPEN],
        start=1)}
    for p in posts.values():
        for key, sentence in p.get("intentions", {}).items():
            rel = keys[key]
            edges[rel.value] += 1
            nodes[rel.value].add(intention_id(rel, split_tail(rel, sentence)[0]))
    return {
        "posts": len(posts),
        "images": len({img for _, img in posts}),
        "edges": edges,
        "nodes": {k: len(v) for k, v in nodes.items()},
    }


def graph_fingerprint(driver: Any, database: str) -> str:
    """A hash over every node's labels and properties and every relationship."""
    h = hashlib.sha256()
    records, _, _ = driver.execute_query(
        "MATCH (n) WHERE NOT n:KGMeta RETURN labels(n) AS l, properties(n) AS p "
        "ORDER BY coalesce(n.id, n.name)", database_=database)
    for r in records:
        h.update(json.dumps([sorted(r["l"]), r["p"]], sort_keys=True, default=str).encode())
    records, _, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, coalesce(b.id, b.name) AS b, "
        "properties(r) AS p ORDER BY a, t, b", database_=database)
    for r in records:
        h.update(json.dumps([r["a"], r["t"], r["b"], r["p"]], sort_keys=True).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def loaded(driver: Any, settings: Any, embedder: Any, data_dir: Path) -> dict[str, Any]:
    from kg_builder.graph.schema import await_indexes, init_schema
    from tests.conftest import wipe

    wipe(driver, settings.neo4j_database)
    init_schema(driver, settings.neo4j_database, embedder.model_name, embedder.dimension)
    loader = GraphLoader(driver, embedder, settings.neo4j_database, batch_size=300)
    summary = loader.load(MikoReader(data_dir / "miko"), progress=False)
    await_indexes(driver, settings.neo4j_database)
    return {"summary": summary, "expected": expected_counts(data_dir / "miko")}


def test_exact_counts_after_loading(loaded: dict[str, Any], settings: Any) -> None:
    exp = loaded["expected"]
    assert exp["posts"] == 765 + 119 and exp["images"] == 875
    result = CliRunner().invoke(main, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    st = json.loads(result.output)
    assert st["posts"] == exp["posts"]
    assert st["images"] == exp["images"]
    assert st["intention_edges_per_relation"] == exp["edges"]
    assert st["intention_edges"] == 765 * 10 - 12
    assert st["intention_nodes_per_relation"] == exp["nodes"]
    assert st["intention_nodes"] == sum(exp["nodes"].values())
    assert st["key_info_nodes"] == {k: 0 for k in ("concept", "action", "object", "emotion", "keyword")}
    assert st["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert st["embedding_dimension"] == 384
    # Benchmark labels travel onto the edges: every train edge is labelled 0 or 1.
    for rel, by_label in st["intention_edges_by_benchmark_label"].items():
        assert set(by_label) <= {"0", "1"}
        assert sum(by_label.values()) == exp["edges"][rel]
    assert loaded["summary"].rejected == []


def test_quirks_are_in_the_graph(loaded: dict[str, Any], driver: Any, settings: Any) -> None:
    db = settings.neo4j_database
    # 9 test posts share an image name with train posts: one Image node, two posts.
    shared, _, _ = driver.execute_query(
        "MATCH (a:Post {split:'train'})-[:HAS_IMAGE]->(i:Image)<-[:HAS_IMAGE]-(b:Post {split:'test'}) "
        "RETURN count(DISTINCT i) AS n", database_=db)
    assert shared[0]["n"] == 9
    # A post duplicated in train.json with different labels keeps both votes on its edges.
    votes, _, _ = driver.execute_query(
        "MATCH (:Post {id:'miko:train:172'})-[r]->(:Intention) RETURN r.label_votes AS v", database_=db)
    assert len(votes) == 10 and all(len(r["v"]) == 2 for r in votes)
    # 12 posts lack the Open intention.
    no_open, _, _ = driver.execute_query(
        "MATCH (p:Post {split:'train'}) WHERE NOT (p)-[:OPEN]->() RETURN count(p) AS n", database_=db)
    assert no_open[0]["n"] == 12
    # Test posts carry their benchmark labels on the post and have no intention edges.
    test, _, _ = driver.execute_query(
        "MATCH (p:Post {split:'test'}) RETURN count(p) AS n, "
        "sum(CASE WHEN size(p.benchmark_labels) = 10 THEN 1 ELSE 0 END) AS labelled, "
        "sum(COUNT { (p)-->(:Intention) }) AS edges", database_=db)
    assert dict(test[0]) == {"n": 119, "labelled": 119, "edges": 0}


def test_intentions_carry_tail_text_label_and_embedding(
    loaded: dict[str, Any], driver: Any, settings: Any
) -> None:
    records, _, _ = driver.execute_query(
        "MATCH (p:Post {id:'miko:train:129'})-[r:X_WANT]->(i:Intention) "
        "RETURN i, labels(i) AS labels, r", database_=settings.neo4j_database)
    assert len(records) == 1
    node, rel = records[0]["i"], records[0]["r"]
    assert sorted(records[0]["labels"]) == ["Intention", "XWant"]
    assert node["relation"] == "xWant"
    assert node["tail"].startswith("inform followers about Lil Weezyana Fest 2")
    assert node["text"].startswith("After posting this Tweet, the user wants to")
    assert len(node["embedding"]) == 384
    assert rel["label"] == 1 and rel["source"] == "miko" and rel["text"] == node["text"]


def test_relation_scoped_vector_search_returns_k_of_that_relation(
    loaded: dict[str, Any], driver: Any, settings: Any, embedder: Any
) -> None:
    vec = embedder.embed(["share excitement about a concert"])[0].tolist()
    for rel in (Relation.X_WANT, Relation.O_REACT):
        records, _, _ = driver.execute_query(
            "CYPHER 25 MATCH (node:Intention) SEARCH node IN (VECTOR INDEX intention_embedding "
            "FOR $vec WHERE node.relation = $relation LIMIT 10) SCORE AS score "
            "RETURN node.relation AS relation, node.tail AS tail, score",
            {"relation": rel.value, "vec": vec}, database_=settings.neo4j_database)
        assert len(records) == 10
        assert {r["relation"] for r in records} == {rel.value}
        scores = [r["score"] for r in records]
        assert scores == sorted(scores, reverse=True)
        assert any("concert" in r["tail"].lower() or "excite" in r["tail"].lower()
                   or "music" in r["tail"].lower() for r in records[:5])


def test_reload_is_idempotent(loaded: dict[str, Any], driver: Any, settings: Any,
                              embedder: Any, data_dir: Path) -> None:
    before = graph_fingerprint(driver, settings.neo4j_database)
    loader = GraphLoader(driver, embedder, settings.neo4j_database, batch_size=1000)
    summary = loader.load(MikoReader(data_dir / "miko"), progress=False)
    assert summary.posts_loaded == 884
    assert summary.intentions_embedded == 0 and summary.posts_embedded == 0  # nothing paid twice
    assert graph_fingerprint(driver, settings.neo4j_database) == before


def test_filtered_searches_return_the_exact_top_k_of_what_matches(
    loaded: dict[str, Any], driver: Any, settings: Any, embedder: Any
) -> None:
    """Every relation, typicality floors 0.5-0.95, posts by source, split and image: the API
    answers min(k, matching) hits, each matching, in descending exact score, the same as an
    exact brute-force top k (checked in Cypher without the index)."""
    from starlette.testclient import TestClient

    from kg_api.app import create_app
    from kg_builder.quality.critic import load_critic
    from kg_builder.quality.scoring import score_graph

    db = settings.neo4j_database
    score_graph(driver, db, load_critic(None), progress=False)
    text = "share excitement about a concert with friends"
    vec = embedder.embed([text])[0].tolist()
    exact = ("MATCH (n:Intention) WHERE n.relation = $relation AND n.typicality >= $t "
             "WITH n, vector.similarity.cosine(n.embedding, $v) AS s "
             "RETURN n.id AS id, s ORDER BY s DESC, id LIMIT $k")
    count = ("MATCH (n:Intention) WHERE n.relation = $relation AND n.typicality >= $t "
             "RETURN count(n) AS n")
    query = ("query($t: String!, $r: Relation, $k: Int!, $low: Float) { searchIntentions("
             "text: $t, relation: $r, k: $k, minTypicality: $low) { score intention { id "
             "relation typicality } } }")
    fewer = 0
    with TestClient(create_app(settings, embedder=embedder)) as client:
        for rel in Relation:
            for low in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
                k = 50
                params = {"relation": rel.value, "t": low, "v": vec, "k": k}
                matching = driver.execute_query(count, params, database_=db).records[0]["n"]
                truth = driver.execute_query(exact, params, database_=db).records
                answer = client.post("/graphql", json={"query": query, "variables": {
                    "t": text, "r": rel.name, "k": k, "low": low}}).json()
                assert "errors" not in answer, answer
                hits = answer["data"]["searchIntentions"]
                assert len(hits) == min(k, matching), (rel, low, matching)
                fewer += matching < k
                assert all(h["intention"]["relation"] == rel.name
                           and h["intention"]["typicality"] >= low for h in hits)
                scores = [h["score"] for h in hits]
                assert scores == sorted(scores, reverse=True)
                assert [h["intention"]["id"] for h in hits] == [r["id"] for r in truth] or (
                    {h["intention"]["id"] for h in hits} == {r["id"] for r in truth}
                    and scores == pytest.approx([r["s"] for r in truth], abs=1e-6))  # ties
        assert fewer > 0  # some floors leave fewer than k: those answer all that match

        posts = ("query($t: String!, $src: String, $split: String, $img: Boolean) { "
                 "searchPosts(text: $t, k: 20, source: $src, split: $split, hasImage: $img) "
                 "{ score post { id source split } } }")
        for src, split, img in (("miko", "train", True), ("miko", "valid", None),
                                (None, None, False), ("nobody", None, None)):
            answer = client.post("/graphql", json={"query": posts, "variables": {
                "t": text, "src": src, "split": split, "img": img}}).json()
            assert "errors" not in answer, answer
            hits = answer["data"]["searchPosts"]
            where = " AND ".join(
                [f"p.{name} = ${name}" for name, value in (("source", src), ("split", split),
                                                           ("has_image", img))
                 if value is not None]) or "true"
            truth = driver.execute_query(
                f"MATCH (p:Post) WHERE {where} WITH p, vector.similarity.cosine(p.embedding, $v)"
                " AS s RETURN p.id AS id ORDER BY s DESC LIMIT 20",
                {"source": src, "split": split, "has_image": img, "v": vec},
                database_=db).records
            assert {h["post"]["id"] for h in hits} == {r["id"] for r in truth}, (src, split, img)
            assert all(h["post"]["source"] == src for h in hits) if src else True
            assert len(hits) == len(truth) and (src != "nobody" or not hits)
