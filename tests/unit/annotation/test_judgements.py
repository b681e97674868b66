"""The pure parts of the annotation loop: the labelling interface, task data, reading an
annotation's result, aggregates and agreement."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from kg_builder.annotation.interface import (
    CHOICES,
    NO_INTENTION,
    TaskEdge,
    edge_field,
    judgements_of,
    label_config,
    task_data,
    text_field,
    thumbnail_data_uri,
)
from kg_builder.annotation.judgements import (
    Vote,
    aggregate,
    krippendorff_alpha,
    merge_votes,
    pairwise_agreement,
)
from kg_builder.core.relations import Relation


def test_label_config_asks_each_relation_with_the_papers_three_scores() -> None:
    root = ET.fromstring(label_config(list(Relation), with_image=True))
    choices = root.findall(".//Choices")
    assert [c.get("toName") for c in choices] == [text_field(r) for r in Relation]
    for c in choices:
        assert [(x.get("value"), x.get("alias")) for x in c.findall("Choice")] == [
            (label, str(score)) for label, score in CHOICES]
    assert root.find(".//Image") is not None
    one = ET.fromstring(label_config([Relation.X_REACT], with_image=False))
    assert [c.get("name") for c in one.findall(".//Choices")] == ["j_xReact"]
    assert one.find(".//Image") is None


def test_task_data_marks_a_missing_relation_and_cuts_nothing_needed() -> None:
    data = task_data("miko:train:1", "miko", "A post", "", None, {"emotion": ["joy", "pride"]},
                     [TaskEdge(Relation.X_WANT, "int-1", "After posting this Tweet, the user wants x.")],
                     [Relation.X_WANT, Relation.OPEN])
    assert data["miko_key"] == "miko:train:1|miko" and data["post_id"] == "miko:train:1"
    assert data[edge_field(Relation.X_WANT)] == "int-1"
    assert data[text_field(Relation.OPEN)] == NO_INTENTION and data[edge_field(Relation.OPEN)] == ""
    assert data["key_info"] == "emotion: joy, pride"
    assert data["description"] == "(no image description)"


def test_judgements_are_read_by_alias_and_bad_answers_are_named() -> None:
    task = {edge_field(Relation.X_WANT): "a", edge_field(Relation.X_REACT): "b",
            edge_field(Relation.OPEN): ""}

    def item(name: str, *choices: str) -> dict[str, object]:
        return {"from_name": name, "value": {"choices": list(choices)}}

    found, problems = judgements_of(task, [
        item("j_xWant", "1"), item("j_xReact", "-1 implausible"), item("j_Open", "0"),
        item("j_oWant", "0"), item("j_nope", "1"), item("j_xReact", "2"), item("j_xWant", "1", "0"),
        item("other", "1")])
    assert [(j.relation, j.intention, j.score) for j in found] == [
        (Relation.X_WANT, "a", 1), (Relation.X_REACT, "b", -1)]
    assert len(problems) == 3 and "j_nope" in problems[0] and "got ['2']" in problems[1]


def test_aggregate_mean_majority_and_agreement() -> None:
    assert aggregate([]).score is None
    one = aggregate([1])
    assert (one.score, one.label, one.agreement) == (1.0, 1, None)
    split = aggregate([1, -1])
    assert (split.score, split.label, split.agreement) == (0.0, None, 0.5)
    most = aggregate([1, 1, 0])
    assert most.label == 1 and most.agreement == pytest.approx(2 / 3)


def test_merge_replaces_only_this_projects_votes() -> None:
    stored = [Vote("h#1/a", 1, "t1"), Vote("h#1/b", 0, "t1"), Vote("h#2/a", -1, "t0")]
    merged = merge_votes(stored, "h#1/", [Vote("h#1/a", 0, "t2")])
    assert merged == [Vote("h#2/a", -1, "t0"), Vote("h#1/a", 0, "t2")]
    assert merge_votes(merged, "h#1/", [Vote("h#1/a", 0, "t2")]) == merged  # idempotent


def test_agreement_measures_on_known_cases() -> None:
    assert pairwise_agreement([[1, 1], [0, 0]]) == 1.0
    assert pairwise_agreement([[1, 0, 0]]) == pytest.approx(1 / 3)
    assert pairwise_agreement([[1]]) is None
    assert krippendorff_alpha([[1, 1], [0, 0], [-1, -1]]) == 1.0
    # Worked by hand: pairs (1,1), (0,0), (1,0): alpha = 1 - (n-1) * D_o / sum n_c n_k
    # = 1 - 5 * 2 / 18.
    assert krippendorff_alpha([[1, 1], [0, 0], [1, 0]]) == pytest.approx(1 - 10 / 18)
    worse = krippendorff_alpha([[1, 0], [0, 1]])
    assert worse is not None and worse < 0  # systematic disagreement
    assert krippendorff_alpha([[1], [0]]) is None


def test_thumbnail_is_small_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (2000, 1000), (200, 30, 30)).save(path)
    uri = thumbnail_data_uri(path)
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) < 60_000
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(Exception, match="cannot identify"):
        thumbnail_data_uri(tmp_path / "bad.jpg")
