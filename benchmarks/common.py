"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import platform
import re
import subprocess
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from kg_builder.embeddings.base import Vectors


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {date.today()}"


def neo4j_version(driver: Any) -> str:
    records, _, _ = driver.execute_query("CALL dbms.components() YIELD versions RETURN versions[0] AS v")
    return str(records[0]["v"])


def _checkout_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return "?"


_REVISION = _checkout_revision()  # read when a benchmark imports this, with the code it runs


def git_rev() -> str:
    """The checkout's revision when the benchmark started (a commit made during a long run is
    not the code that ran)."""
    return _REVISION


class LookupEmbedder:
    """Precomputed vectors by text; replica suffixes ' #rN' are stripped before the lookup."""

    def __init__(self, table: dict[str, Any], model: Any) -> None:
        self.table = table
        self.model = model
        self.model_name = model.model_name
        self.dimension = model.dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = []
        for t in texts:
            key = re.sub(r"\s*#r\d+$", "", t)
            if key not in self.table:
                self.table[key] = self.model.embed([key])[0]
            out.append(self.table[key])
        return np.stack(out).astype(np.float32)


def dump(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
