"""``miko eval`` on the MIKO data with the shipped backbone: the references against themselves
score 100, shifted references score near the random-reference baseline, missing answers score 0
and are counted, and the JSON report has the documented shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from kg_builder.core.relations import MIKO_KEY_TO_RELATION, Relation
from kg_builder.inputs.readers import JsonlReader, MikoReader
from kg_builder.quality.bertscore import BERTScorer
from kg_builder.quality.evaluation import evaluate

POSTS = 40


@pytest.fixture(scope="module")
def scorer() -> BERTScorer:
    return BERTScorer("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def release(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    posts = json.loads((data_dir / "miko" / "train.json").read_text(encoding="utf-8"))
    posts = [p for p in posts if sum(p["intention_labels"]) >= 5][:POSTS]
    path = tmp_path_factory.mktemp("eval") / "train.json"
    path.write_text(json.dumps(posts), encoding="utf-8")
    return path, posts


def test_references_against_themselves_score_100(scorer: BERTScorer, release: Any) -> None:
    path, _ = release
    report = evaluate(MikoReader(path), MikoReader(path), scorer).as_dict()
    assert report["posts"] == POSTS and report["unmatched_posts"] == 0
    for relation, scores in report["relations"].items():
        assert scores["n"] > 0, relation
        assert scores["f1"] == pytest.approx(100.0, abs=0.01), relation
    assert report["average"] == pytest.approx(100.0, abs=0.01)
    for baseline in report["baselines"].values():
        assert 10 < baseline["average"] < 60


def test_shifted_references_score_near_the_random_baseline(scorer: BERTScorer, release: Any,
                                                           tmp_path: Path) -> None:
    path, posts = release
    shifted = [dict(p, intentions=posts[(n + 1) % len(posts)]["intentions"])
               for n, p in enumerate(posts)]
    run = tmp_path / "run.json"
    run.write_text(json.dumps(shifted), encoding="utf-8")
    report = evaluate(MikoReader(run), MikoReader(path), scorer).as_dict()
    random_avg = report["baselines"]["random_reference"]["average"]
    assert report["average"] < 60
    assert abs(report["average"] - random_avg) < 6, (report["average"], random_avg)


def test_missing_and_empty_answers_score_zero_and_are_counted(scorer: BERTScorer, release: Any,
                                                              tmp_path: Path) -> None:
    path, posts = release
    keep = {"Intention 1": MIKO_KEY_TO_RELATION["Intention 1"]}
    run = tmp_path / "run.jsonl"
    with run.open("w", encoding="utf-8") as fh:
        for n, post in enumerate(posts):
            intentions = ([] if n % 2 else
                          [{"relation": rel.value, "text": post["intentions"][key]}
                           for key, rel in keep.items()])
            fh.write(json.dumps({"id": f"p{n}", "text": post["text"], "image": None,
                                 "intentions": intentions}) + "\n")
    report = evaluate(JsonlReader(run), MikoReader(path), scorer)
    data = report.as_dict()
    want = Relation.X_WANT.value
    assert all(v["f1"] == 0.0 and v["n"] > 0 for k, v in data["relations"].items() if k != want)
    xwant = [p for p in report.pairs if p.relation is Relation.X_WANT]
    answered = [p for p in xwant if p.candidate]
    assert answered and len(answered) < len(xwant)  # half the posts did not answer
    assert all(p.f1["model"] == 0.0 for p in xwant if not p.candidate)
    assert all(p.f1["model"] > 0.99 for p in answered)
    assert report.verdict().startswith("does NOT beat")
    assert scorer.score(["", "a cat", " "], ["a dog", "", "x"]).f1.tolist() == [0.0, 0.0, 0.0]


def test_cli_json_report_shape(release: Any, tmp_path: Path) -> None:
    path, _ = release
    csv_path = tmp_path / "pairs.csv"
    result = CliRunner().invoke(main, ["eval", str(path), "--references", str(path),
                                       "--json", "--per-post", str(csv_path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"backbone", "posts", "scored_posts", "relations", "average", "interval",
                         "baselines"}
    assert "all-MiniLM-L6-v2" in data["backbone"]
    assert set(data["relations"]) == {r.value for r in Relation}
    assert all(set(v) == {"f1", "n"} for v in data["relations"].values())
    assert set(data["baselines"]) == {"constant", "random_reference", "nearest_reference",
                                      "medoid_reference"}
    for b in data["baselines"].values():
        assert set(b) == {"relations", "average", "interval"}
        assert b["interval"][0] <= b["average"] <= b["interval"][1]
    assert csv_path.read_text(encoding="utf-8").count("\n") == 1 + sum(
        v["n"] for v in data["relations"].values())


def test_a_post_is_never_matched_to_another_post_with_the_same_text(scorer: BERTScorer,
                                                                     tmp_path: Path) -> None:
    """Two posts share a text but not an image; one has no kept reference: its answers must not
    be scored against the other's references."""
    sentence = "After posting this Tweet, the user wants to {}."
    a = {"image": "1.jpg", "text": "Mood.", "intention_labels": [0] * 10,
         "intentions": {"Intention 1": sentence.format("show an angry cat")}}
    b = {"image": "2.jpg", "text": "Mood.", "intention_labels": [1] * 10,
         "intentions": {"Intention 1": sentence.format("cheer for a football team")}}
    path = tmp_path / "train.json"
    path.write_text(json.dumps([a, b]), encoding="utf-8")
    report = evaluate(MikoReader(path), MikoReader(path), scorer)
    assert [(p.post_id, p.candidate) for p in report.pairs] == [
        ("miko:train:2", "cheer for a football team.")]
    assert report.unmatched_posts == 1 and report.pairs[0].f1["model"] > 0.999


def test_our_bertscore_matches_the_bert_score_package(scorer: BERTScorer, release: Any) -> None:
    """The same backbone and layer through `bert-score` 0.3.13 (the reference implementation)
    gives the same F1 on MIKO intention pairs, within its padding artefact (it lets a padded
    position's zero win a token's maximum)."""
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    import bert_score

    from kg_builder.core.relations import split_tail
    from kg_builder.embeddings.base import resolve_model_path

    _, posts = release
    tails = [split_tail(rel, p["intentions"][key])[0] for p in posts
             for key, rel in MIKO_KEY_TO_RELATION.items() if key in p["intentions"]]
    cands, refs = tails[:-1], tails[1:]
    ours = scorer.score(cands, refs).f1
    _, _, theirs = bert_score.score(cands, refs, model_type=resolve_model_path("all-MiniLM-L6-v2"),
                                    num_layers=scorer.layer, batch_size=64)
    diff = abs(theirs.numpy() - ours)
    assert len(cands) > 300
    assert diff.max() < 0.005 and diff.mean() < 0.0005, (diff.max(), diff.mean())


def test_an_empty_reference_is_no_reference_and_is_counted(scorer: BERTScorer, release: Any,
                                                           tmp_path: Path) -> None:
    """The public release has posts whose intention sentence is "" (label 0): such a post is
    scored on the relations it has a kept reference for, and the empty ones are counted."""
    _, posts = release
    quirky = [dict(p) for p in posts]
    quirky[0] = dict(quirky[0], intentions=dict(quirky[0]["intentions"], **{"Intention 1": ""}),
                     intention_labels=[0, *quirky[0]["intention_labels"][1:]])
    path = tmp_path / "train.json"
    path.write_text(json.dumps(quirky), encoding="utf-8")
    report = evaluate(MikoReader(path), MikoReader(path), scorer)
    assert report.rejected == [] and report.empty_references == 1
    assert report.posts == POSTS
    first = [p for p in report.pairs if p.post_id == f"miko:train:{Path(quirky[0]['image']).stem}"]
    kept = {rel for n, (key, rel) in enumerate(MIKO_KEY_TO_RELATION.items())
            if quirky[0]["intention_labels"][n] == 1 and key in quirky[0]["intentions"]}
    assert {p.relation for p in first} == kept and Relation.X_WANT not in kept
    assert all(p.f1["model"] > 0.999 for p in first)
    result = CliRunner().invoke(main, ["eval", str(path), "--references", str(path),
                                       "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["empty_references"] == 1 and data["rejected"] == 0


def test_retrieval_baselines_use_the_most_similar_other_posts(
        scorer: BERTScorer, release: Any, embedder: Any, tmp_path: Path) -> None:
    """The nearest-reference baseline answers the kept reference of the most similar other post
    (never the post itself or its same-text twin), the medoid one the most central of the k most
    similar posts' references; both beat the random reference on MIKO posts, and every average
    has a bootstrap interval over posts that holds it."""
    path, posts = release
    report = evaluate(MikoReader(path), MikoReader(path), scorer, embedder=embedder, k=5)
    data = report.as_dict()
    assert data["average"] == pytest.approx(100.0, abs=0.01)
    own = {(p.post_id, p.relation): p.reference for p in report.pairs}
    assert all(p.nearest_reference and p.medoid_reference for p in report.pairs)
    assert sum(p.nearest_reference == own[(p.post_id, p.relation)] for p in report.pairs) < len(
        report.pairs) * 0.2  # not the post's own reference (a few are shared phrasings)
    base = data["baselines"]
    assert base["nearest_reference"]["average"] > base["random_reference"]["average"]
    assert base["medoid_reference"]["average"] > base["random_reference"]["average"]
    for name, b in base.items():
        assert b["interval"][0] < b["average"] < b["interval"][1], name
    # the nearest post by embedding, checked by hand for one pair
    texts = {f"miko:train:{p['image'].rsplit('.', 1)[0]}": p["text"] for p in posts}
    pair = report.pairs[0]
    import numpy as np

    keys = [k for k in texts if k != pair.post_id and texts[k] != texts[pair.post_id]]
    vectors = np.asarray(embedder.embed([texts[pair.post_id], *[texts[k] for k in keys]]))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    order = np.argsort(-(vectors[1:] @ vectors[0]), kind="stable")
    by_id = {f"miko:train:{p['image'].rsplit('.', 1)[0]}": p for p in posts}
    relation_key = next(k for k, r in MIKO_KEY_TO_RELATION.items() if r == pair.relation)
    index = list(MIKO_KEY_TO_RELATION).index(relation_key)
    for i in order:
        other = by_id[keys[i]]
        if other["intention_labels"][index] == 1 and other["intentions"].get(relation_key):
            break
    assert pair.nearest_reference in other["intentions"][relation_key]
