"""`driftline keys create|list|revoke` against the configured database."""

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import get_settings
from tests.conftest import auth


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_create_list_revoke(runner: CliRunner, client: TestClient) -> None:
    created = runner.invoke(cli, ["keys", "create", "svc", "--scope", "ingest"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("dl_")
    ok = {"model": "m", "prompt": "p", "output": "o"}
    assert client.post("/v1/events", json=ok, headers=auth(key)).status_code == 202

    listed = runner.invoke(cli, ["keys", "list"])
    assert key[:15] in listed.output and "active" in listed.output and key not in listed.output

    revoked = runner.invoke(cli, ["keys", "revoke", key[:15]])
    assert revoked.exit_code == 0, revoked.output
    assert client.post("/v1/events", json=ok, headers=auth(key)).status_code == 401
    assert "revoked" in runner.invoke(cli, ["keys", "list"]).output


def test_unknown_scope_and_unknown_key_fail_clearly(runner: CliRunner) -> None:
    bad = runner.invoke(cli, ["keys", "create", "x", "--scope", "write"])
    assert bad.exit_code == 1 and "unknown scope" in bad.output
    missing = runner.invoke(cli, ["keys", "revoke", "dl_nope"])
    assert missing.exit_code == 1 and "no key" in missing.output
