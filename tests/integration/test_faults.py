"""A Neo4j server killed in the middle of a load: a clear error with what was committed, and a
rerun after the restart gives the same graph as a clean load, nothing duplicated or lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kg_builder.graph.server import Neo4jServer
from tests.conftest import wipe
from tests.integration.test_load_miko import graph_fingerprint

pytestmark = pytest.mark.graph
ROOT = Path(__file__).resolve().parents[2]


MIKO = [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())"]
ENV = {**os.environ, "MIKO_WRITE_BATCH_SIZE": "40"}  # many small transactions


def miko(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MIKO, *args], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=600)


def post_count(driver: Any, database: str) -> int:
    rows, _, _ = driver.execute_query("MATCH (p:Post) RETURN count(p) AS n", database_=database)
    return int(rows[0]["n"])


def test_a_server_killed_mid_load_loses_nothing(driver: Any, settings: Any, data_dir: Path) -> None:
    db = settings.neo4j_database
    server = Neo4jServer(settings)
    pid = server.pid()
    assert pid is not None, "the scratch server is managed by miko"
    release = str(data_dir / "miko")
    wipe(driver, db)
    load = subprocess.Popen([*MIKO, "load-release", release], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while post_count(driver, db) < 120:  # a few batches are committed
            assert load.poll() is None and time.monotonic() < deadline, "the load ended too soon"
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        output, _ = load.communicate(timeout=300)
    finally:
        if load.poll() is None:
            load.kill()
    assert load.returncode == 1, output
    assert "Neo4j stopped answering during the load" in output, output
    assert "posts were committed" in output and "Loaded " in output  # cause, then the summary
    assert "Traceback" not in output

    server.start()
    rerun = miko("load-release", release)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    after_fault = graph_fingerprint(driver, db)
    stats_after_fault = json.loads(miko("stats", "--json").stdout)

    wipe(driver, db)
    clean = miko("load-release", release)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(miko("stats", "--json").stdout) == stats_after_fault
    assert graph_fingerprint(driver, db) == after_fault
