"""The critic file: the packaged critic loads and scores in [0, 1]; a saved critic round-trips;
edited weights, a damaged file and another embedding model are refused with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kg_builder.core.relations import Relation
from kg_builder.quality.critic import Critic, CriticError, load_critic


def test_packaged_critic_scores_and_states_its_quality() -> None:
    critic = load_critic(None)
    assert critic.embedding_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert critic.metrics["auc"] > 0.6 and critic.metrics["ceiling"]["agreement"] < 0.7
    rng = np.random.default_rng(0)
    post = rng.standard_normal((20, critic.dimension))
    tail = rng.standard_normal((20, critic.dimension))
    post /= np.linalg.norm(post, axis=1, keepdims=True)  # embeddings are unit vectors
    tail /= np.linalg.norm(tail, axis=1, keepdims=True)
    scores = critic.score(post, tail, [list(Relation)[i % 10] for i in range(20)])
    assert scores.shape == (20,) and np.all((scores > 0) & (scores < 1))
    assert len(set(np.round(scores, 6))) > 1
    assert critic.score(post[:0], tail[:0], []).shape == (0,)


def test_round_trip_and_refusals(tmp_path: Path) -> None:
    critic = load_critic(None)
    path = tmp_path / "critic.json"
    critic.save(path)
    again = Critic.load(path)
    assert again.version == critic.version and np.array_equal(again.coef, critic.coef)

    data = json.loads(path.read_text())
    data["coef"][0] += 1.0
    path.write_text(json.dumps(data))
    with pytest.raises(CriticError, match="do not match its recorded version"):
        Critic.load(path)
    path.write_text("{not json")
    with pytest.raises(CriticError, match="not a miko critic file"):
        Critic.load(path)
    with pytest.raises(CriticError, match="no such critic file"):
        Critic.load(tmp_path / "missing.json")
    with pytest.raises(CriticError, match="train a critic with that model"):
        critic.check_model("some/other-model", 768)


def test_train_and_eval_commands_split_by_post(data_dir: Path, tmp_path: Path) -> None:
    """`miko critic train` then `miko critic eval` on a small release: the folds hold whole
    posts, the report has the AUC with its interval, the relation alone and the ceiling."""
    from click.testing import CliRunner

    from cli import main
    from kg_builder.quality.critic_training import folds

    posts = json.loads((data_dir / "miko" / "train.json").read_text(encoding="utf-8"))[:60]
    release = tmp_path / "train.json"
    release.write_text(json.dumps(posts), encoding="utf-8")
    out = tmp_path / "critic.json"
    runner = CliRunner()
    trained = runner.invoke(main, ["critic", "train", "--references", str(release), "--out",
                                   str(out), "--folds", "3", "--json"])
    assert trained.exit_code == 0, trained.output
    info = json.loads(trained.output)
    assert info["posts"] == 60 and info["trained_on"][0]["file"] == "train.json"
    assert Critic.load(out).version == info["version"]
    result = runner.invoke(main, ["critic", "eval", "--references", str(release), "--critic",
                                  str(out), "--folds", "3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["scored"] == "the critic in use" and report["posts"] == 60
    assert report["retrained_out_of_fold"]["split"] == "by post"
    # the critic in use, scored directly: on its own training posts it does at least as well
    # as its configuration retrained without them
    assert report["auc"] >= report["retrained_out_of_fold"]["auc"] - 0.01
    low, high = report["interval"]
    assert 0.0 <= low <= report["auc"] <= high <= 1.0
    assert set(report["relation_only"]) >= {"auc", "interval"}
    assert set(report["ceiling"]) == {"repeated_intentions", "agreeing", "agreement"}
    # another critic (trained on other posts) gets its own figure on the same labels
    other_posts = tmp_path / "other.json"
    other_posts.write_text(json.dumps(json.loads((data_dir / "miko" / "train.json").read_text(
        encoding="utf-8"))[200:260]), encoding="utf-8")
    other = tmp_path / "other-critic.json"
    assert runner.invoke(main, ["critic", "train", "--references", str(other_posts), "--out",
                                str(other), "--folds", "2", "--json"]).exit_code == 0
    scored = json.loads(runner.invoke(main, ["critic", "eval", "--references", str(release),
                                             "--critic", str(other), "--folds", "0",
                                             "--json"]).output)
    assert scored["version"] == Critic.load(other).version != report["version"]
    assert scored["auc"] != report["auc"] and "retrained_out_of_fold" not in scored
    groups = ["a", "a", "b", "c", "c", "c", "d"]
    held = folds(groups, 2, seed=0)
    for fold in held:  # no post has rows in two folds
        assert {groups[i] for i in fold}.isdisjoint(
            {groups[i] for f in held if f is not fold for i in f})
