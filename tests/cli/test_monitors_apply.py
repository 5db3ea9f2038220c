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
        "    thresholds: {text_auc: 0.8}\n"
    )
    first = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert first.exit_code == 0 and "monitor/bot-hourly created" in first.output, first.output
    again = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert "monitor/bot-hourly unchanged" in again.output
    spec.write_text(spec.read_text().replace("1h", "30m"))
    changed = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert "monitor/bot-hourly configured" in changed.output
    monitors = client.get("/v1/monitors", headers=admin).json()["monitors"]
    assert [(m["name"], m["window"], m["thresholds"]) for m in monitors] == [
        ("bot-hourly", "30m", {"text_auc": 0.8})
    ]
    # The field's deprecated name still configures it (a file written before 2026-12).
    spec.write_text(
        spec.read_text().replace("thresholds: {text_auc: 0.8}", "checks: {text_auc: 0.85}")
    )
    renamed = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert "monitor/bot-hourly configured" in renamed.output, renamed.output
    monitors = client.get("/v1/monitors", headers=admin).json()["monitors"]
    assert monitors[0]["thresholds"] == {"text_auc": 0.85}
    spec.write_text(spec.read_text().replace("baseline: holdout", "baseline: nope"))
    bad = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert bad.exit_code == 1 and "no baseline 'nope'" in bad.output


def test_apply_configures_judges_before_the_monitors_that_run_them(
    runner: CliRunner,
    client: TestClient,
    make_key,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    admin = {"Authorization": f"Bearer {make_key('admin')}"}
    body = {"model": "writer", "name": "holdout", "records": [{"prompt": "p", "output": "o"}]}
    assert client.post("/v1/baselines", json=body, headers=admin).status_code == 202
    spec = tmp_path / "monitors.yaml"
    spec.write_text(
        "judges:\n"
        "  - name: safety\n    base_url: http://vllm:8000/v1\n    model: guard\n"
        "    rubric: safety\n    max_fail_rate: 0.01\n"
        "monitors:\n"
        "  - name: writer-hourly\n    model: writer\n    baseline: holdout\n    window: 1h\n"
        "    judges: [safety]\n"
    )
    first = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert first.exit_code == 0, first.output
    assert (
        "judge/safety created" in first.output and "monitor/writer-hourly created" in first.output
    )
    again = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert (
        "judge/safety unchanged" in again.output
        and "monitor/writer-hourly unchanged" in again.output
    )
    spec.write_text(spec.read_text().replace("model: guard", "model: guard-2"))
    changed = runner.invoke(cli, ["monitors", "apply", "-f", str(spec)])
    assert "judge/safety configured" in changed.output, changed.output
    judge = client.get("/v1/judges/safety", headers=admin).json()
    assert judge["model"] == "guard-2" and judge["version"] == 2 and judge["max_fail_rate"] == 0.01
    assert client.get("/v1/monitors", headers=admin).json()["monitors"][0]["judges"] == ["safety"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
         "monitors: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n", "aliases"),
        ("monitors: [1]\n", "monitors[0] must be a mapping"),
        ("monitors: {name: x}\n", "expected top-level `monitors:` and/or `judges:` lists"),
        ("judges: [{name: j, base_url: 'ftp://x', model: m}]\n", "not an http(s) URL"),
    ],
    ids=["alias bomb", "not a mapping", "not a list", "bad judge"],
)  # fmt: skip
def test_apply_refuses_hostile_or_malformed_files_with_a_clear_error(
    runner: CliRunner,
    tmp_path,
    content: str,
    says: str,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "monitors.yaml"
    path.write_text(content)
    result = runner.invoke(cli, ["monitors", "apply", "-f", str(path)])
    assert result.exit_code == 1, result.output
    assert says in result.output and "Traceback" not in result.output, result.output
