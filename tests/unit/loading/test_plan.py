"""One batch's plan for both loaders: the de-duplication rules, and the isolation of the
records at fault in a refused batch."""

from __future__ import annotations

from typing import Any

import pytest

from kg_builder.core.errors import EmbeddingInputError, KGBuilderError
from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.models import ImageRef, IntentionRecord, Origin, PostRecord, Rejection
from kg_builder.core.relations import Relation, intention_id
from kg_builder.loading.plan import (
    SystemicRefusal,
    isolate,
    plan_batch,
    refused_alike,
)


def post(pid: str, intentions: list[tuple[Relation, str]], **fields: Any) -> PostRecord:
    return PostRecord(id=pid, text=f"post {pid}", source="test", origin=Origin(file="f", line=1),
                      intentions=[IntentionRecord(relation=r, text=t) for r, t in intentions],
                      **fields)


NEED = "Before posting this Tweet, the user needs to buy a ticket"
WANT = "After posting this Tweet, the user wants to"


def test_one_node_per_intention_the_first_sentence_naming_it() -> None:
    spaced = "Before posting this Tweet, the user needs  to buy a ticket "
    plan = plan_batch([post("a", [(Relation.X_NEED, NEED)]), post("b", [(Relation.X_NEED, spaced)])])
    iid = intention_id(Relation.X_NEED, "buy a ticket")
    assert list(plan.nodes) == [iid]
    assert plan.nodes[iid].text == NEED
    assert [(e.post, e.intention) for e in plan.edges] == [("a", iid), ("b", iid)]


def test_one_edge_per_post_relation_and_intention_the_last_sentence_winning() -> None:
    plan = plan_batch([post("a", [(Relation.X_NEED, NEED), (Relation.X_NEED, NEED + "!"),
                                  (Relation.X_WANT, f"{WANT} go")])])
    assert intention_id(Relation.X_NEED, "buy a ticket") == intention_id(
        Relation.X_NEED, "buy a ticket!")  # one intention, two sentences
    assert [(e.relation, e.text) for e in plan.edges] == [
        (Relation.X_NEED, NEED + "!"), (Relation.X_WANT, f"{WANT} go")]
    assert plan.edges_by_relation()[Relation.X_WANT][0].row()["source"] == "test"
    assert plan.prunes == [{"post": "a", "source": "test",
                            "keep": [intention_id(Relation.X_NEED, "buy a ticket")] * 2
                            + [intention_id(Relation.X_WANT, "go")]}]


def test_key_information_links_once_per_post_kind_and_name() -> None:
    rec = post("a", [], key_info={"concept": "Concert", "keywords": ["Music", "music ", "live"]})
    links = [(k.kind, k.name, k.display) for k in plan_batch([rec]).key_links]
    assert links.count((KeyInfoKind.KEYWORD, "music", "Music")) == 1
    assert (KeyInfoKind.CONCEPT, "concert", "Concert") in links
    assert len([k for k in links if k[0] is KeyInfoKind.KEYWORD]) == 2


def test_tails_are_embedded_once_per_normalised_tail() -> None:
    plan = plan_batch([post("a", [(Relation.X_NEED, NEED), (Relation.X_WANT,
                                                            f"{WANT} buy a Ticket")])])
    groups = plan.tails_to_embed(plan.nodes)
    assert [(g.text, len(g.ids)) for g in groups] == [("buy a ticket", 2)]


def test_images_are_the_records_with_one() -> None:
    with_image = post("a", [], image=ImageRef(file="a.jpg"))
    assert [r.id for r, _ in plan_batch([with_image, post("b", [])]).images()] == ["a"]


def test_isolate_rejects_exactly_the_records_at_fault_and_runs_the_rest() -> None:
    records = [post(str(i), []) for i in range(7)]
    done: list[str] = []
    rejected: list[Rejection] = []

    def attempt(part: list[PostRecord]) -> None:
        if any(r.id in ("2", "5") for r in part):
            raise EmbeddingInputError("the tokenizer refused it")
        done.extend(r.id for r in part)

    refusals = isolate(records, attempt, rejected, "the embedder")
    assert sorted(done) == ["0", "1", "3", "4", "6"]
    assert [r.reason for r in rejected] == [
        "post '2' refused by the embedder: the tokenizer refused it",
        "post '5' refused by the embedder: the tokenizer refused it"]
    assert [r.line for r in rejected] == [1, 1]
    assert refused_alike(records, refusals) == ""


def test_a_refusal_of_every_record_alike_is_not_the_datas() -> None:
    records = [post(str(i), []) for i in range(3)]

    def attempt(part: list[PostRecord]) -> None:
        raise ValueError("always")

    refusals = isolate(records, attempt, [], "the graph")
    assert refused_alike(records, refusals).startswith(
        "every one of the 3 posts of a batch was refused for the same reason")


def test_failures_about_the_setup_are_raised_not_blamed_on_records() -> None:
    from neo4j.exceptions import ClientError

    def setup(part: list[PostRecord]) -> None:
        raise KGBuilderError("no embedding model")

    with pytest.raises(KGBuilderError):
        isolate([post("a", []), post("b", [])], setup, [], "x")

    def forbidden(part: list[PostRecord]) -> None:
        raise ClientError._hydrate_neo4j(code="Neo.ClientError.Security.Forbidden",
                                        message="no writes")

    with pytest.raises(SystemicRefusal, match="Forbidden"):
        isolate([post("a", [])], forbidden, [], "x")


def test_a_later_sentence_keeps_the_earlier_label_and_votes_it_lacks() -> None:
    rec = PostRecord(id="a", text="t", source="test", intentions=[
        IntentionRecord(relation=Relation.X_NEED, text=NEED, label=1, label_votes=[1, 1, 0]),
        IntentionRecord(relation=Relation.X_NEED, text=NEED + ".")])
    (edge,) = plan_batch([rec]).edges
    assert (edge.text, edge.label, edge.label_votes) == (NEED + ".", 1, [1, 1, 0])
