"""The three OpenAI instrumentations, unchanged, export through the real OTLP/HTTP exporter to
a real ``driftline api``: N chat calls → exactly N events with the right fields."""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import auth
from tests.jobs.test_monitoring_flow import work
from tests.otlp.emit import PROMPTS
from tests.otlp.fake_openai import ANSWER, LOGPROBS, USAGE

CALLS = 7


def emit(style: str, base: str, key: str, n: int = CALLS, **env: str) -> None:
    """Run ``tests.otlp.emit`` with the exporter pointed at Driftline as a user would."""
    child = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"{base}/v1/otlp",
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{key}",
        "OTEL_SERVICE_NAME": "support-service",
        **env,
    }
    out = subprocess.run(
        [sys.executable, "-m", "tests.otlp.emit", style, str(n)],
        env=child, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Failed to export" not in out.stderr, out.stderr[-3000:]


def stored(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM events ORDER BY ts")).mappings().all()
    return [dict(r) for r in rows]


@pytest.mark.parametrize(
    ("style", "env"),
    [
        ("openllmetry", {}),
        ("openai-v2", {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}),
        ("openinference", {}),
    ],
)
def test_each_instrumentation_gives_one_event_per_chat_call(
    style: str, env: dict[str, str], driftline: str, make_key: Callable[..., str],
    engine: Engine,
) -> None:  # fmt: skip
    emit(style, driftline, make_key("ingest"), **env)
    events = stored(engine)
    assert len(events) == CALLS, [e["prompt"] for e in events]
    for i, event in enumerate(events):
        assert event["model"] == "support-bot"
        assert event["model_version"] == "support-bot-2026-01"
        assert event["prompt"] == PROMPTS[i % len(PROMPTS)]  # the user's turn, not the system's
        assert event["output"] == ANSWER
        assert event["prompt_tokens"] == USAGE["prompt_tokens"]
        assert event["completion_tokens"] == USAGE["completion_tokens"]
        assert event["finish_reason"] == "stop"
        assert 0 < event["latency_ms"] < 60_000
        trace_id, span_id = str(event["request_id"]).split("-")
        assert len(trace_id) == 32 and len(span_id) == 16
        assert event["metadata"]["service.name"] == "support-service"
    if style == "openinference":  # it records the raw response, logprobs included
        assert events[0]["logprob_tokens"] == len(LOGPROBS)
        assert events[0]["perplexity"] == pytest.approx(2.718281828**0.2, rel=1e-6)


def test_a_window_of_traced_calls_is_monitored_to_a_verdict(
    driftline: str, client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    admin = auth(make_key("admin"))
    records = [{"prompt": PROMPTS[i % len(PROMPTS)] + f" ({i})", "output": ANSWER}
               for i in range(120)]  # fmt: skip
    r = client.post("/v1/baselines", json={"model": "support-bot", "name": "b", "records": records},
                    headers=admin)  # fmt: skip
    assert r.status_code == 202, r.text
    now = datetime.now(UTC)
    if now.minute == 59:  # the calls are stamped now: keep them all in one hourly window
        time.sleep(61 - now.second)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    r = client.post(
        "/v1/monitors",
        json={"model": "support-bot", "baseline_id": r.json()["id"], "window": "1h",
              "delay": "0s", "start_at": hour.isoformat(), "min_events": 30},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    emit("openinference", driftline, make_key("ingest"), n=60)
    work(engine, hour + timedelta(hours=1))
    runs = client.get(f"/v1/monitors/{r.json()['id']}/runs", headers=admin).json()["runs"]
    assert [(run["status"], run["n_events"]) for run in runs] == [("done", 60)], runs
    assert runs[0]["verdict"] in ("ok", "warning", "drift", "degraded")


def test_the_clients_request_id_for_a_span_is_the_events() -> None:
    from driftline_client import otel_request_id
    from opentelemetry.sdk.trace import TracerProvider

    from app.otlp.genai import request_id

    with TracerProvider().get_tracer("t").start_as_current_span("chat") as span:
        context = span.get_span_context()
    expected = request_id(context.trace_id.to_bytes(16, "big"), context.span_id.to_bytes(8, "big"))
    assert otel_request_id(context) == expected
