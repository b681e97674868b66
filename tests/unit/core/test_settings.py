import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from cli import main
from kg_builder.core.settings import Settings


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
    s = Settings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings' init option
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


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    missing = [f"MIKO_{name.upper()}" for name in Settings.model_fields
               if f"`MIKO_{name.upper()}`" not in readme]
    assert missing == []


def test_an_invalid_setting_is_a_clear_cli_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIKO_API_PORT", "not-a-port")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 1
    assert "invalid MIKO_* setting" in result.output and "api_port" in result.output
