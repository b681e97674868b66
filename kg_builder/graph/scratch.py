"""Scratch servers: the only ones the test suite and the benchmarks may wipe.

``miko neo4j start --scratch`` leaves a marker file in the managed server's data folder. Before
wiping, a caller asks the server itself where its data lives and looks for the marker there, so
no environment variable or ``.env`` can point a wipe at another server.
"""

from __future__ import annotations

from pathlib import Path

from neo4j import Driver

from kg_builder.graph.queries import admin

SCRATCH_MARKER = ".miko-scratch"


def mark_scratch(data_dir: Path) -> Path:
    """Mark a managed server's data folder as scratch (its graph may be wiped)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / SCRATCH_MARKER
    marker.write_text("The graph of the Neo4j server using this folder may be wiped by tests.\n")
    return marker


def scratch_problem(driver: Driver, database: str) -> str | None:
    """None when the server behind ``driver`` runs on a folder marked scratch; else why not."""
    try:
        records, _, _ = driver.execute_query(admin.data_directory(), database_=database)
    except Exception as exc:
        return f"the server does not say where its data lives ({type(exc).__name__})"
    if not records:
        return "the server does not say where its data lives"
    data = Path(records[0]["path"])
    for folder in (data, data.parent):
        if (folder / SCRATCH_MARKER).is_file():
            return None
    return (f"the server's data folder {data} is not marked as scratch ({SCRATCH_MARKER}); "
            "start a scratch server with `miko neo4j start --scratch` (scripts/test.sh does)")
