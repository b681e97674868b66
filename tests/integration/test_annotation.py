"""The human-judgement round trip against a real Label Studio that the tests start on 127.0.0.1:
export 20 MIKO posts, two annotators judge them through Label Studio's own API (disagreeing on
some intentions), import, and check the votes and aggregates on the edges, the selection, the
report, the API's filters, and that a second round trip doubles nothing. A real browser opens a
task and sees the post and its intentions."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from cli import main
from kg_api.app import create_app
from kg_builder.annotation.interface import choice_field, edge_field, text_field
from kg_builder.annotation.server import LocalLabelStudio
from kg_builder.core.relations import Relation
from kg_builder.inputs.readers import MikoReader
from tests.integration.test_browser import CHROMIUM_ARGS

pytestmark = pytest.mark.graph
POSTS = 20
SECOND = "annotator2@miko.local"


@pytest.fixture(scope="module")
def label_studio(settings: Any) -> Iterator[LocalLabelStudio]:
    """The suite's own Label Studio (own port and data folder, never the user's), started if it
    is not running and stopped afterwards if this module started it."""
    own = settings.model_copy(update={
        "label_studio_url": None,
        "label_studio_port": int(os.environ.get("MIKO_TEST_LABEL_STUDIO_PORT", "8090")),
        "label_studio_data_dir": settings.cache_dir / "label-studio-test"})
    local = LocalLabelStudio(own)
    started = local.start()
    yield local
    if started and os.environ.get("MIKO_TEST_KEEP_SERVERS") != "1":
        local.stop()


@pytest.fixture(scope="module")
def env(label_studio: LocalLabelStudio, driver: Any, settings: Any, embedder: Any, data_dir: Path,
        tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A graph of 60 MIKO train posts and the environment that points miko at the test Label
    Studio."""
    from kg_builder.graph.schema import await_indexes, init_schema
    from kg_builder.loading.loader import GraphLoader
    from tests.conftest import wipe

    db = settings.neo4j_database
    wipe(driver, db)
    init_schema(driver, db, embedder.model_name, embedder.dimension)
    folder = tmp_path_factory.mktemp("miko")
    posts = json.loads((data_dir / "miko" / "train.json").read_text(encoding="utf-8"))[:60]
    (folder / "train.json").write_text(json.dumps(posts), encoding="utf-8")
    GraphLoader(driver, embedder, db).load(MikoReader(folder / "train.json"), progress=False)
    await_indexes(driver, db)
    return {"MIKO_LABEL_STUDIO_URL": label_studio.url,
            "MIKO_LABEL_STUDIO_TOKEN": label_studio.token()}


def miko(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def ls(label_studio: LocalLabelStudio) -> Iterator[Any]:
    """Label Studio's own SDK, as the annotators' tools would use its API."""
    import httpx
    from label_studio_sdk import LabelStudio

    with httpx.Client(timeout=60) as http:
        yield LabelStudio(base_url=label_studio.url,  # type: ignore[no-untyped-call]
                          api_key=label_studio.token(), httpx_client=http)


def second_annotator(ls: Any) -> int:
    for user in ls.users.list():
        if user.email == SECOND:
            return int(user.id)
    return int(ls.users.create(email=SECOND, username="annotator2", first_name="Second").id)


def first_score(task: int, rel: Relation) -> int:
    """The first annotator (the admin): mostly high, some low, a few implausible."""
    k = task + list(Relation).index(rel)
    return -1 if k % 11 == 0 else 0 if k % 7 == 0 else 1


def second_score(task: int, rel: Relation) -> int:
    """The second annotator agrees, except on every xReact (implausible) and task 0's oWant."""
    if rel is Relation.X_REACT:
        return -1
    if task == 0 and rel is Relation.O_WANT:
        return 0 if first_score(task, rel) != 0 else 1
    return first_score(task, rel)


def result(data: dict[str, Any], scores: dict[Relation, int]) -> list[dict[str, Any]]:
    return [{"from_name": choice_field(rel), "to_name": text_field(rel), "type": "choices",
             "value": {"choices": [str(score)]}} for rel, score in scores.items()
            if data.get(edge_field(rel))]


def cypher(driver: Any, settings: Any, query: str, **params: Any) -> list[Any]:
    rows, _, _ = driver.execute_query(query, params, database_=settings.neo4j_database)
    return list(rows)


def expected(scores: list[int]) -> tuple[float, int | None, float]:
    mean = sum(scores) / len(scores)
    top = max(set(scores), key=scores.count)
    label = top if scores.count(top) * 2 > len(scores) else None
    return mean, label, scores.count(top) / len(scores)


def test_round_trip_votes_aggregates_selection_report_and_no_doubles(
        env: dict[str, str], ls: Any, driver: Any, settings: Any, embedder: Any,
        tmp_path: Path) -> None:
    title = f"test {uuid.uuid4().hex[:12]}"
    out = miko(env, "annotate", "export", "--sample", str(POSTS), "--seed", "7", "--title", title,
               "--json")
    project = out["project_id"]
    assert out["tasks"] == out["added"] == POSTS and out["rejected"] == []

    second = second_annotator(ls)
    tasks = sorted(ls.tasks.list(project=project, fields="all"), key=lambda t: t.id)
    assert len(tasks) == POSTS
    votes: dict[tuple[str, str], list[int]] = {}  # (post, intention) -> scores we submit
    for n, task in enumerate(tasks):
        data = dict(task.data)
        for who, score in ((None, first_score), (second, second_score)):
            scores = {rel: score(n, rel) for rel in Relation}
            extra = {} if who is None else {"completed_by": who}
            ls.annotations.create(id=task.id, result=result(data, scores), **extra)
            for rel, s in scores.items():
                if data.get(edge_field(rel)):
                    votes.setdefault((data["post_id"], data[edge_field(rel)]), []).append(s)
    judged = sum(len(v) for v in votes.values())

    first = miko(env, "annotate", "import", "--project", str(project), "--json")
    assert first["annotations"] == judged and first["intentions"] == len(votes)
    assert first["read"] == 2 * POSTS and first["rejected"] == []

    rows = cypher(driver, settings, "UNWIND $keys AS k MATCH (:Post {id: k[0]})-[r]->(:Intention "
                  "{id: k[1]}) RETURN k AS key, r.judges AS judges, r.judge_scores AS scores, "
                  "r.human_score AS score, r.human_label AS label, r.human_agreement AS agreement, "
                  "r.human_votes AS n", keys=[list(k) for k in votes])
    assert len(rows) == len(votes)
    disagreements = 0
    for row in rows:
        want = votes[(row["key"][0], row["key"][1])]
        assert row["n"] == 2 and sorted(row["scores"]) == sorted(want)
        assert {j.rsplit("/", 1)[1] for j in row["judges"]} == {settings.label_studio_user, SECOND}
        mean, label, agreement = expected(want)
        assert row["score"] == pytest.approx(mean) and row["label"] == label
        assert row["agreement"] == pytest.approx(agreement)
        disagreements += label is None
    # Every xReact the first annotator did not call implausible, and task 0's oWant.
    assert disagreements == sum(expected(v)[1] is None for v in votes.values()) >= POSTS - 2

    # A changed annotation replaces the old one: the second annotator now agrees on task 0.
    task0 = tasks[0]
    [now] = [t for t in ls.tasks.list(project=project, fields="all") if t.id == task0.id]
    mine = [a for a in now.annotations if a["completed_by"] == second]
    ls.annotations.update(id=mine[0]["id"], result=result(
        dict(task0.data), {rel: first_score(0, rel) for rel in Relation}))
    again = miko(env, "annotate", "import", "--project", str(project), "--json")
    assert again["annotations"] == judged and again["intentions"] == len(votes)
    assert 1 <= again["changed"] <= 10
    xreact = dict(task0.data)[edge_field(Relation.X_REACT)]
    [row] = cypher(driver, settings, "MATCH (:Post {id: $p})-[r]->(:Intention {id: $i}) RETURN r",
                   p=dict(task0.data)["post_id"], i=xreact)
    assert row["r"]["human_votes"] == 2 and row["r"]["human_agreement"] == 1.0
    assert row["r"]["human_label"] == first_score(0, Relation.X_REACT)
    for key in votes:  # bring our expectation along
        if key[0] == dict(task0.data)["post_id"]:
            rel = next(r for r in Relation if dict(task0.data).get(edge_field(r)) == key[1])
            votes[key] = [first_score(0, rel), first_score(0, rel)]

    # The whole round trip again: nothing doubles, nothing changes.
    re_export = miko(env, "annotate", "export", "--sample", str(POSTS), "--seed", "7", "--title",
                     title, "--json")
    assert re_export["project_id"] == project and re_export["tasks"] == POSTS
    assert re_export["added"] == 0
    assert len(list(ls.tasks.list(project=project))) == POSTS
    third = miko(env, "annotate", "import", "--project", str(project), "--json")
    assert third["changed"] == 0 and third["annotations"] == judged
    [most] = cypher(driver, settings, "MATCH (:Post)-[r]->(:Intention) RETURN max(r.human_votes) AS n, "
                    "count(r.human_votes) AS judged")
    assert most["n"] == 2 and most["judged"] == len(votes)

    # Report: the distribution per relation is the count of the votes we submitted.
    png = tmp_path / "figure4.png"
    rep = miko(env, "annotate", "report", "--json", "--png", str(png))
    assert rep["annotated_intentions"] == len(votes)
    relation_of = {(r["post"], r["intention"]): r["relation"] for r in cypher(
        driver, settings, "MATCH (p:Post)-[r]->(i:Intention) WHERE r.human_votes > 0 "
        "RETURN p.id AS post, i.id AS intention, i.relation AS relation")}
    for rel in Relation:
        mine_scores = [s for k, v in votes.items() if relation_of[k] == rel.value for s in v]
        got = rep["relations"][rel.value]
        assert (got["high"], got["low"], got["implausible"]) == (
            mine_scores.count(1), mine_scores.count(0), mine_scores.count(-1)), rel
    assert rep["relations"]["xReact"]["pairwise_agreement"] < rep["relations"]["xNeed"][
        "pairwise_agreement"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

    # Two-stage selection, read back by the MIKO reader and scored by `miko eval`.
    totals: dict[str, float] = {}
    kept: dict[str, int] = {}
    for (post, _), v in votes.items():
        mean, label, _ = expected(v)
        totals[post] = totals.get(post, 0.0) + mean
        kept[post] = kept.get(post, 0) + (label == 1)
    candidates = [p for p, t in totals.items() if t > 5]
    assert 0 < len(candidates) < POSTS
    sel = tmp_path / "benchmark.json"
    chosen = miko(env, "annotate", "select", "--min-total", "5", "--out", str(sel), "--json")
    assert chosen["judged_posts"] == POSTS and chosen["candidates"] == len(candidates)
    assert chosen["kept_intentions"] == sum(kept[p] for p in candidates)
    records = [r for r in MikoReader(sel) if hasattr(r, "intentions")]
    assert len(records) == len(candidates)
    assert sum(i.label == 1 for r in records for i in r.intentions) == chosen["kept_intentions"]
    scored = CliRunner().invoke(main, ["eval", str(sel), "--references", str(sel), "--json"],
                                env=env)
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["average"] == pytest.approx(100.0, abs=0.01)

    # Training data of what most annotators judged highly typical.
    sft = miko(env, "export", "sft", "--out", str(tmp_path / "sft"), "--human-label", "1", "--json")
    assert sft["assistant_turns"] == sum(expected(v)[1] == 1 for v in votes.values())

    # The API serves the judgement and filters on it, beside the critic's typicality.
    post = candidates[0]
    query = ('query ($id: ID!) { post(id: $id) { all: intentions { relation typicality human { '
             'score label agreement votes { annotator score } } } high: intentions(minHumanScore: '
             '1.0) { relation } implausible: intentions(humanLabel: -1) { relation } } }')
    with TestClient(create_app(settings, embedder=embedder)) as client:
        answer = client.post("/graphql", json={"query": query, "variables": {"id": post}}).json()
        assert "errors" not in answer, answer
        got = answer["data"]["post"]
        humans = {i["relation"]: i["human"] for i in got["all"]}
        assert all(h is not None and len(h["votes"]) == 2 for h in humans.values())
        assert {r["relation"] for r in got["high"]} == {
            rel for rel, h in humans.items() if h["score"] >= 1.0}
        assert {r["relation"] for r in got["implausible"]} == {
            rel for rel, h in humans.items() if h["label"] == -1}
        bad = client.post("/graphql", json={"variables": {"id": post}, "query": 'query ($id: '
                          'ID!) { post(id: $id) { intentions(minHumanScore: 3) { relation } } }'}).json()
        assert "minHumanScore" in bad["errors"][0]["message"]


def test_a_task_opens_in_a_real_browser(env: dict[str, str], label_studio: LocalLabelStudio,
                                        ls: Any, settings: Any, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    title = f"browser {uuid.uuid4().hex[:12]}"
    project = miko(env, "annotate", "export", "--sample", "3", "--seed", "1", "--title", title,
                   "--json")["project_id"]
    task = next(iter(ls.tasks.list(project=project)))
    data = dict(task.data)
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1400})

        def only_local(route: Any) -> None:
            url = route.request.url
            if url.startswith((label_studio.url, "data:", "blob:")):
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        page.route("**/*", only_local)
        page.goto(f"{label_studio.url}/user/login/")
        page.fill("input[name=email]", settings.label_studio_user)
        page.fill("input[name=password]", settings.label_studio_password.get_secret_value())
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/user/login" not in url, timeout=30_000)
        page.goto(f"{label_studio.url}/projects/{project}/data?task={task.id}")
        page.wait_for_selector("text=1 high typicality", timeout=60_000)
        page.screenshot(path=str(tmp_path / "label-studio-task.png"), full_page=True)
        body = " ".join(page.inner_text("body").split())
        browser.close()

    def start(text: str) -> str:
        return " ".join(text.split())[:40]

    assert start(data["text"]) in body
    for rel in Relation:
        if data.get(edge_field(rel)):
            assert start(data[text_field(rel)]) in body, rel
    assert "-1 implausible" in body
    assert outside == []
