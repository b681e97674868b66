"""The managed server never replaces a folder miko did not create."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg_builder.core.errors import Neo4jServerError
from kg_builder.core.settings import Settings
from kg_builder.graph.server import Neo4jServer


def test_a_foreign_folder_is_never_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIKO_NEO4J_URI", raising=False)
    home = tmp_path / "someone-elses"
    home.mkdir()
    (home / "precious.txt").write_text("keep me")
    server = Neo4jServer(Settings(_env_file=None, neo4j_home=home))  # type: ignore[call-arg]
    with pytest.raises(Neo4jServerError, match="was not made by miko"):
        server.install()
    assert (home / "precious.txt").read_text() == "keep me"
