import json

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from cli import main
from kg_builder.settings import Settings


def test_env_names_and_masking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIKO_NEO4J_PASSWORD", "s3cret-value")
    monkeypatch.setenv("MIKO_NEO4J_URI", "bolt://db.example:7687")
    monkeypatch.setenv("MIKO_WRITE_BATCH_SIZE", "500")
    s = Settings()
    assert s.bolt_uri == "bolt://db.example:7687" and not s.managed
    assert s.write_batch_size == 500
    assert s.masked()["neo4j_password"] == "**********"
    assert "s3cret-value" not in repr(s)
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["neo4j_password"] == "**********" and shown["managed_server"] is False
    assert "s3cret-value" not in result.output


def test_managed_server_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIKO_NEO4J_URI", raising=False)
    monkeypatch.setenv("MIKO_NEO4J_BOLT_PORT", "7999")
    s = Settings(_env_file=None)
    assert s.managed and s.bolt_uri == "bolt://127.0.0.1:7999"


def test_bad_batch_size_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIKO_WRITE_BATCH_SIZE", "0")
    with pytest.raises(ValidationError, match="write_batch_size"):
        Settings()


def test_external_server_is_never_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIKO_NEO4J_URI", "bolt://db.example:7687")
    runner = CliRunner()
    for args in (["neo4j", "install"], ["neo4j", "start"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0
        assert "MIKO_NEO4J_URI is set" in result.output
