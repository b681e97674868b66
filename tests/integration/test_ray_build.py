"""`miko build --engine ray` on a local Ray (127.0.0.1) against two OpenAI-compatible doubles:
the single-process engine's records and dead letters, both endpoints used, and a rerun that
pays for nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from kg_builder.core.models import PostRecord
from tests.integration.test_generation import _png, _posts
from tests.llm_double import running_double


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def built(out: Path) -> dict[str, Any]:
    records = [PostRecord.model_validate_json(line) for line in out.read_text().splitlines()]
    return {r.id: r.model_dump(mode="json") for r in records}


def dead(out: Path) -> list[dict[str, str]]:
    lines = out.with_suffix(".dead.jsonl").read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda d: d["id"])


def test_ray_build_equals_the_single_process_build_and_reruns_free(
        ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inp = _posts(tmp_path, 24, {"0.png": _png(), "5.png": b"not an image"})
    with running_double() as (url_a, faults_a), running_double() as (url_b, faults_b):
        monkeypatch.setenv("MIKO_LLM_BASE_URL", f"{url_a},{url_b}")
        monkeypatch.setenv("MIKO_LLM_MODEL", "double")
        monkeypatch.setenv("MIKO_RAY_WORKERS", "2")
        monkeypatch.setenv("MIKO_RAY_BATCH_SIZE", "4")
        runner = CliRunner()
        single = tmp_path / "single" / "run.jsonl"
        first = runner.invoke(main, ["build", str(inp), "--images", str(tmp_path),
                                     "--out", str(single)])
        assert first.exit_code == 1, first.output  # the broken image is dead-lettered

        out = tmp_path / "ray" / "run.jsonl"
        calls = faults_a.calls + faults_b.calls
        result = runner.invoke(main, ["build", str(inp), "--images", str(tmp_path),
                                      "--out", str(out), "--engine", "ray"])
        assert result.exit_code == 1, result.output
        assert "2 workers on a local Ray" in result.output
        assert "Built 23 of 24 posts" in result.output
        ray_calls = faults_a.calls + faults_b.calls - calls
        assert ray_calls == calls  # its own run folder: every answer asked once, as before
        assert faults_a.calls > calls // 4 and faults_b.calls > calls // 4  # both endpoints
        assert built(out) == built(single)  # the same records, field for field
        assert dead(out) == dead(single) == [
            {"id": "gen:5", "stage": "image", "reason": dead(single)[0]["reason"]}]
        assert f"model calls {ray_calls} " in result.output

        before = faults_a.calls + faults_b.calls
        again = runner.invoke(main, ["build", str(inp), "--images", str(tmp_path),
                                     "--out", str(out), "--engine", "ray"])
        assert faults_a.calls + faults_b.calls == before, again.output  # all from the cache
        assert "model calls 0 " in again.output and built(out) == built(single)
        hits = int(again.output.split("cache hits ")[1].split(",")[0])
        assert hits == ray_calls


def test_ray_engine_without_a_model_server_says_what_to_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIKO_LLM_BASE_URL", raising=False)
    inp = _posts(tmp_path, 2)
    result = CliRunner().invoke(main, ["build", str(inp), "--out", str(tmp_path / "r.jsonl"),
                                       "--engine", "ray"])
    assert result.exit_code == 1
    assert "--engine ray needs model servers: set MIKO_LLM_BASE_URL" in result.output


def test_ray_ingest_embeds_on_ray_and_the_load_reuses_those_vectors(
        ray_local: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_graph: Any,
        settings: Any, embedder: Any) -> None:
    from kg_builder.embeddings.store import VectorStore

    inp = _posts(tmp_path, 10)
    with running_double() as (url, faults):
        faults.script = ["bad_request"]  # a call that fails for good, in whichever actor
        monkeypatch.setenv("MIKO_LLM_BASE_URL", url)
        monkeypatch.setenv("MIKO_LLM_MODEL", "double")
        monkeypatch.setenv("MIKO_RAY_WORKERS", "2")
        monkeypatch.setenv("MIKO_RAY_BATCH_SIZE", "3")
        monkeypatch.setenv("MIKO_RAY_EMBED_WORKERS", "1")
        out = tmp_path / "run.jsonl"
        runner = CliRunner()
        result = runner.invoke(main, ["ingest", str(inp), "--out", str(out), "--engine", "ray"])
        assert result.exit_code == 1, result.output  # its post is dead-lettered, not loaded
        assert "Built 9 of 10 posts" in result.output
        # the actors' counters reach the summary: their call failures, each one's concurrency
        assert "model call failures (retried or dead-lettered): {'bad_request': 1}" \
            in result.output, result.output
        # Each actor that ran a batch reports its own line. Which ones do is Ray's scheduling:
        # with the embedding actor beside them on 2 CPUs, all four batches sometimes run on one
        # generation actor (seen once in CI), so only the first line is certain.
        assert f"concurrency on {url} (actor 1)" in result.output
        records = [PostRecord.model_validate_json(line) for line in out.read_text().splitlines()]
        texts = list(dict.fromkeys([r.text for r in records] +
                                   [i.tail for r in records for i in r.intentions]))
        store_path = out.parent / "run.run" / "vectors.sqlite"
        assert f"vectors: {len(texts):,} texts embedded, 0 already stored, 0 refused by the model " \
            f"(left to the load) -> {store_path} (load with: miko load {out} --vectors" \
            in result.output
        store = VectorStore(store_path, embedder.model_name, embedder.dimension, read_only=True)
        stored = store.get(texts)
        store.close()
        assert len(stored) == len(texts)
        expected = embedder.embed(texts)
        assert max(float(np.abs(stored[t] - expected[k]).max()) for k, t in enumerate(texts)) \
            < 1e-5  # what the model gives here, computed in the Ray actor
        # the load asked the store for every text it embeds and the model for none
        asked = len({r.text for r in records}) + len({i.tail for r in records
                                                      for i in r.intentions})
        assert f"{asked:,} of {asked:,} texts (hit rate 100.0%); 0 embedded by the model" \
            in result.output
        rows = empty_graph.execute_query(
            "MATCH (p:Post) RETURN p.text AS text, p.embedding AS v",
            database_=settings.neo4j_database).records
        assert len(rows) == len(records)
        assert max(float(np.abs(np.array(r["v"]) - stored[r["text"]]).max()) for r in rows) < 1e-6

        again = runner.invoke(main, ["build", str(inp), "--out", str(out), "--engine", "ray",
                                     "--skip-failed"])  # the rest from the cache
        assert "Built 9 of 10 posts" in again.output
        assert f"vectors: 0 texts embedded, {len(texts):,} already stored" in again.output
