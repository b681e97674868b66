"""Model migration with `miko db reembed` against the real server."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from kg_builder.core.models import IntentionRecord, PostRecord
from kg_builder.core.relations import Relation
from kg_builder.graph.schema import index_states
from kg_builder.loading.loader import GraphLoader

pytestmark = pytest.mark.graph


def test_reembed_migrates_model_and_rebuilds_indexes(
    empty_graph: Any, settings: Any, embedder: Any
) -> None:
    db = settings.neo4j_database
    post = PostRecord(id="p1", text="a sunny day at the beach", source="t", intentions=[
        IntentionRecord(relation=Relation.X_WANT,
                        text="After posting this Tweet, the user wants to swim."),
    ])
    GraphLoader(empty_graph, embedder, db, defer_vector_indexes=False).load([post], progress=False)
    # Pretend the graph was built by another model, with garbage vectors.
    empty_graph.execute_query(
        "MATCH (m:KGMeta {id:'embedding'}) SET m.model = 'old/model' "
        "WITH 1 AS one MATCH (n) WHERE n:Post OR n:Intention "
        "CALL db.create.setNodeVectorProperty(n, 'embedding', [x IN range(1, 384) | 0.5])",
        database_=db)
    assert CliRunner().invoke(main, ["stats"]).exit_code == 0
    refused = CliRunner().invoke(main, ["db", "init"])
    assert refused.exit_code == 1 and "old/model" in refused.output and "miko db reembed" in refused.output

    result = CliRunner().invoke(main, ["db", "reembed", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Re-embedded 1 intentions and 1 posts" in result.output
    records, _, _ = empty_graph.execute_query(
        "MATCH (m:KGMeta {id:'embedding'}) RETURN m.model AS m", database_=db)
    assert records[0]["m"] == embedder.model_name
    states = {i["name"]: i["state"] for i in index_states(empty_graph, db) if i["type"] == "VECTOR"}
    assert set(states) == {"intention_embedding", "post_embedding"}
    assert set(states.values()) == {"ONLINE"}
    hits, _, _ = empty_graph.execute_query(
        "CYPHER 25 MATCH (node:Intention) SEARCH node IN (VECTOR INDEX intention_embedding FOR $v "
        "WHERE node.relation = 'xWant' LIMIT 1) SCORE AS score RETURN node.tail AS tail, score",
        {"v": embedder.embed(["swim"])[0].tolist()}, database_=db)
    assert hits[0]["tail"] == "swim." and hits[0]["score"] > 0.9
