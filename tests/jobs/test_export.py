"""The retraining export: chosen for a reason, deduplicated, no PII leaves."""

from collections.abc import Callable

import orjson
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import get_settings
from tests.conftest import auth


def test_export_picks_wrong_and_low_scored_examples_without_pii(
    client: TestClient,
    make_key: Callable[..., str],
    database_url: str,
    tmp_path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    headers = auth(make_key("ingest", "read"))
    events = [
        {"model": "bot", "request_id": "1", "ts": "2026-11-01T00:00:00Z", "prediction": "billing",
         "prompt": "Refund to jane.doe@example.com please, call +44 20 7946 0958", "output": "ok"},
        {"model": "bot", "request_id": "2", "ts": "2026-11-01T00:01:00Z", "prediction": "billing",
         "prompt": "refund to JANE.DOE@example.com please, call +44 20 7946 0958!", "output": "ok"},
        {"model": "bot", "request_id": "3", "ts": "2026-11-01T00:02:00Z", "prediction": "tech",
         "prompt": "my card 4111 1111 1111 1111 was declined", "output": "sorry"},
        {"model": "bot", "request_id": "4", "ts": "2026-11-01T00:03:00Z", "prediction": "tech",
         "prompt": "all good here", "output": "great"},
    ]  # fmt: skip
    assert client.post("/v1/events", json={"events": events}, headers=headers).status_code == 202
    feedback = [
        {"model": "bot", "request_id": "1", "label": "refund"},
        {"model": "bot", "request_id": "2", "label": "refund"},
        {"model": "bot", "request_id": "3", "score": 0.1},
        {"model": "bot", "request_id": "4", "label": "tech", "score": 0.9},
    ]
    assert (
        client.post("/v1/feedback", json={"feedback": feedback}, headers=headers).status_code == 202
    )

    r = client.get("/v1/exports/retraining?model=bot&since=2026-10-01T00:00:00Z", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    rows = [orjson.loads(line) for line in r.text.splitlines()]
    assert [(x["request_id"], x["reasons"]) for x in rows] == [
        ("1", ["wrong_label"]),  # 2 is the same prompt, near-duplicate: exported once
        ("3", ["low_score"]),
    ]
    assert "<EMAIL>" in rows[0]["prompt"] and "<PHONE>" in rows[0]["prompt"]
    assert "<CARD>" in rows[1]["prompt"]
    assert "example.com" not in r.text and "7946" not in r.text and "4111" not in r.text

    bad = client.get(
        "/v1/exports/retraining?model=bot&since=2026-10-01&reasons=vibes", headers=headers
    )
    assert bad.status_code == 422

    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    out = tmp_path / "r.jsonl"
    result = CliRunner().invoke(
        cli, ["export", "retraining", "--model", "bot", "--since", "2026-10-01T00:00:00+00:00",
              "-o", str(out)],
    )  # fmt: skip
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "wrote 2 examples" in result.output
    assert out.read_bytes() == r.content
