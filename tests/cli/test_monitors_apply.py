"""`driftline monitors apply -f` is declarative and idempotent."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import get_settings


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_apply_creates_then_changes_nothing_then_updates(
    runner: CliRunner,
    client: TestClient,
    ingest_headers: dict[str, str],
    make_key,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    admin = {"Authorization": f"Bearer {make_key('admin')}"}
    body = {"model": "bot", "name": "holdout", "records": [{"prompt": "p"}]}
    assert client.post("/v1/baselines", json=body, headers=admin).status_code == 202
    spec = tmp_path / "monitors.yaml"
    spec.write_text(
        "monitors:\n"
        "  - name: bot-hourly\n    model: bot\n    baseline: holdout\n    window: 1h\n"
        "    checks: {text_auc: 0.8}\n"
    )
    first = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert first.exit_code == 0 and "monitor/bot-hourly created" in first.output, first.output
    again = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert "monitor/bot-hourly unchanged" in again.output
    spec.write_text(spec.read_text().replace("1h", "30m"))
    changed = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert "monitor/bot-hourly configured" in changed.output
    monitors = client.get("/v1/monitors", headers=admin).json()["monitors"]
    assert [(m["name"], m["window"], m["checks"]) for m in monitors] == [
        ("bot-hourly", "30m", {"text_auc": 0.8})
    ]
    spec.write_text(spec.read_text().replace("baseline: holdout", "baseline: nope"))
    bad = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert bad.exit_code == 1 and "no baseline 'nope'" in bad.output
