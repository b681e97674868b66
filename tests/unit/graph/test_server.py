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


def test_a_data_folder_of_neo4j_5_is_refused_until_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MIKO_NEO4J_URI", raising=False)
    server = Neo4jServer(Settings(_env_file=None, neo4j_data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    assert server.data_version() is None and server.allow_migration() is None
    server.check_data_folder()  # a new folder: nothing to refuse
    (tmp_path / "data" / "data" / "dbms").mkdir(parents=True)  # what Neo4j 5.26 left
    assert server.data_version() == "5.26"
    with pytest.raises(Neo4jServerError, match=r"made by Neo4j 5\.26.*MIKO_NEO4J_DATA_DIR.*"
                       r"miko neo4j migrate"):
        server.check_data_folder()
    assert server.allow_migration() == "5.26"
    server.check_data_folder()
    assert "migrated from 5.26" in (server.data_version() or "")
