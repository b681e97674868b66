"""The typed rows of the read queries: ``from_map`` takes what a statement returns and fails
loudly on a missing key."""

from __future__ import annotations

import pytest

from kg_builder.core.key_info import KeyInfoKind
from kg_builder.core.relations import Relation
from kg_builder.graph.rows import (
    HumanJudgementRow,
    HumanVoteRow,
    ImageRow,
    IntentionHitRow,
    IntentionLinkRow,
    IntentionRow,
    KeyInfoRow,
    PostHitRow,
    PostRow,
    TopIntentionRow,
)

INTENTION = {"id": "i1", "relation": "xNeed", "text": "PersonX needs to buy a ticket",
             "tail": "to buy a ticket", "typicality": 0.8}


def test_post_row_needs_id_and_text() -> None:
    assert PostRow.from_map({"id": "p", "text": "t"}) == PostRow("p", "t", None, None)
    assert PostRow.from_map({"id": "p", "text": "t", "source": "s", "split": "train"}).split == "train"
    with pytest.raises(KeyError, match="text"):
        PostRow.from_map({"id": "p"})


def test_intention_row_reads_the_relation_and_tolerates_projected_away_text() -> None:
    row = IntentionRow.from_map(INTENTION)
    assert (row.relation, row.tail, row.typicality) == (Relation.X_NEED, "to buy a ticket", 0.8)
    bare = IntentionRow.from_map({"id": "i2", "relation": "Open"})
    assert (bare.relation, bare.text, bare.tail, bare.typicality) == (Relation.OPEN, "", "", None)
    with pytest.raises(KeyError):
        IntentionRow.from_map({"id": "i3", "relation": "xNeeds"})


def test_link_row_takes_the_nodes_text_unless_the_edge_has_its_own() -> None:
    edge = {"label": 1, "label_votes": [1, 1, 0], "source": "miko", "model": None,
            "prompt_version": None, "typicality": 0.7, "critic": "typicality",
            "critic_version": "v3"}
    link = IntentionLinkRow.from_map({"edge": edge, "intention": INTENTION})
    assert (link.text, link.label, link.critic, link.human) == (
        INTENTION["text"], 1, "typicality v3", None)
    own = IntentionLinkRow.from_map({"edge": {**edge, "text": "as written for this post",
                                              "critic": None}, "intention": INTENTION})
    assert (own.text, own.critic, own.intention.id) == ("as written for this post", None, "i1")


def test_human_judgements_pair_each_judge_with_score_and_time() -> None:
    edge = {"judges": ["ls#1/a", "ls#1/b"], "judge_scores": [1, -1],
            "judge_times": ["t1", "t2"], "human_score": 0.0, "human_label": None,
            "human_agreement": 0.5}
    row = HumanJudgementRow.from_edge(edge)
    assert row == HumanJudgementRow(0.0, None, 0.5, (HumanVoteRow("ls#1/a", 1, "t1"),
                                                     HumanVoteRow("ls#1/b", -1, "t2")))
    assert HumanJudgementRow.from_edge({"judges": []}) is None
    assert HumanJudgementRow.from_edge({"judges": ["x"], "human_score": None}) is None


def test_hits_images_key_info_and_top_intentions() -> None:
    assert PostHitRow.from_map({"score": 0.9, "post": {"id": "p", "text": "t"}}).post.id == "p"
    hit = IntentionHitRow.from_map({"score": 0.5, "intention": INTENTION})
    assert (hit.score, hit.intention.relation) == (0.5, Relation.X_NEED)
    assert ImageRow.from_map({"id": "m"}) == ImageRow("m", None, None, None)
    assert KeyInfoRow.from_map({"label": "Emotion", "name": "joy"}) == KeyInfoRow(
        KeyInfoKind.EMOTION, "joy", None)
    assert KeyInfoRow.from_map({"name": "run", "display": "Run"}, KeyInfoKind.ACTION).kind == (
        KeyInfoKind.ACTION)
    assert TopIntentionRow.from_map({"posts": 3, "intention": INTENTION}).posts == 3
