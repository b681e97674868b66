"""The wheel carries everything `miko` needs: installed without the checkout on the path, it
initialises a database and builds posts from another folder (the model server is the double)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.llm_double import running_double

pytestmark = pytest.mark.graph
ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_wheel_runs_outside_the_checkout(empty_graph: Any, tmp_path: Path) -> None:
    dist, target, work = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("miko_kg-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"kg_builder/_resources/prompts/intentions.txt",
            "kg_builder/_resources/schema/neo4j.cypher", "cli.py",
            "kg_builder/_resources/critic/typicality.json",
            "kg_builder/_resources/prompts/student_intentions.txt",
            "kg_builder/_resources/student/manifest.json",
            "kg_builder/_resources/student/adapter.gguf",
            "kg_api/static/graphiql/index.html", "kg_api/static/graphiql/graphiql.min.js",
            "kg_api/static/graphiql/licenses/graphiql.LICENSE"} <= names
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)

    env = {**os.environ, "PYTHONPATH": str(target)}

    def miko(*args: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from cli import main; sys.exit(main())"
        return subprocess.run([sys.executable, "-P", "-c", code, *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)

    where = subprocess.run(
        [sys.executable, "-P", "-c", "import kg_builder.core.resources as r; print(r.PROMPTS_DIR)"],
        cwd=work, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(target)), where  # the installed copy, not the checkout

    init = miko("db", "init")
    assert init.returncode == 0, init.stderr
    assert "Schema applied" in init.stdout

    (work / "posts.jsonl").write_text(json.dumps({"id": "w1", "text": "Sunset over the harbour "
                                                  "after a long week #weekend"}) + "\n")
    with running_double() as (url, faults):
        # the packaged student, found in the installed package (answered by the double)
        env.update(MIKO_LLM_BASE_URL=url, MIKO_LLM_MODEL="double", MIKO_STUDENT_BASE_URL=url,
                   MIKO_STUDENT_EXAMPLES="none")
        build = miko("build", "posts.jsonl", "--out", "run.jsonl")
    assert build.returncode == 0, build.stdout + build.stderr
    [record] = [json.loads(line) for line in (work / "run.jsonl").read_text().splitlines()]
    assert record["id"] == "w1" and len(record["intentions"]) == 10
    assert {i["model"] for i in record["intentions"]} == {
        "student:" + json.loads((ROOT / "kg_builder/_resources/student/manifest.json").read_text()
                                )["id"]}
    assert faults.calls == 1 + 10  # key information, then one completion per relation
