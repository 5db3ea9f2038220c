"""/metrics: process counters, request latency by route, model health from the database."""

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, event, text

from app.config import Settings
from app.main import create_app
from tests.api.test_projects import project_keys
from tests.conftest import auth

__all__ = ["project_keys"]  # the fixture, shared


def sample(body: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def seed_run(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO baselines (model, name, source, embedder, record_count, status) "
                "VALUES ('bot', 'b', 'upload', 'tfidf', 10, 'ready')"
            )
        )
        conn.execute(
            text(
                "WITH p AS (INSERT INTO projects (name) VALUES ('default') "
                "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id) "
                "INSERT INTO monitors (name, project_id, model, baseline_id, window_seconds, "
                "start_at) SELECT 'bot-hourly', (SELECT id FROM p), "
                "'bot', id, 3600, '2026-11-01' FROM baselines"
            )
        )
        conn.execute(
            text(
                "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end, "
                "status, verdict, retraining_recommended, n_events, finished_at, results) "
                "SELECT m.id, m.baseline_id, '2026-11-01 00:00+00', '2026-11-01 01:00+00', "
                "'done', 'drift', true, 1234, '2026-11-01 01:02+00', "
                '\'{"checks": {"embedding_drift": {"status": "drift"}, '
                '"quality": {"status": "ok"}}}\' FROM monitors m'
            )
        )
        conn.execute(
            text(
                'INSERT INTO metric_values (run_id, "check", metric, feature, value, threshold) '
                "SELECT id, 'embedding_drift', 'centroid_shift', NULL, 0.31, 0.05 "
                "FROM monitor_runs UNION ALL SELECT id, 'quality', 'f1', NULL, 0.82, NULL "
                "FROM monitor_runs"
            )
        )


def test_ingest_counters_and_route_latency(
    client: TestClient, ingest_headers: dict[str, str]
) -> None:
    before = (
        REGISTRY.get_sample_value("driftline_ingest_events_total", {"outcome": "accepted"}) or 0
    )
    ev = {"model": "m", "request_id": "x", "prompt": "p", "output": "o"}
    client.post("/v1/events", json={"events": [ev, ev]}, headers=ingest_headers)
    client.post("/v1/events", json={"events": [{"model": "m"}]}, headers=ingest_headers)
    body = client.get("/metrics").text
    assert sample(body, "driftline_ingest_events_total", outcome="accepted") == before + 1
    assert (sample(body, "driftline_ingest_events_total", outcome="duplicate") or 0) >= 1
    assert (sample(body, "driftline_ingest_events_total", outcome="rejected") or 0) >= 1
    count = sample(
        body, "driftline_http_request_duration_seconds_count",
        route="/v1/events", method="POST", status="2xx",
    )  # fmt: skip
    assert count is not None and count >= 1
    # Route templates, never raw URLs or request ids ("{request_id}" in a template is fine).
    assert "/v1/events?" not in body and 'request_id="' not in body
    assert "_created" not in body  # no timestamp series doubling every counter
    build = [line for line in body.splitlines() if line.startswith("driftline_build_info{")]
    assert len(build) == 1 and build[0].endswith(" 1.0") and 'version="' in build[0]


def test_model_health_comes_from_the_latest_run(client: TestClient, engine: Engine) -> None:
    seed_run(engine)
    body = client.get("/metrics").text
    lv = {"model": "bot", "monitor": "bot-hourly"}
    assert sample(body, "driftline_monitor_verdict", verdict="drift", **lv) == 1
    assert sample(body, "driftline_monitor_verdict", verdict="ok", **lv) == 0
    assert sample(body, "driftline_retraining_recommended", **lv) == 1
    assert sample(body, "driftline_window_events", **lv) == 1234
    assert (
        sample(body, "driftline_check_status", check="embedding_drift", status="drift", **lv) == 1
    )
    # One series a check, its status's: the others' zeros would triple a fleet's series.
    statuses = [line for line in body.splitlines() if line.startswith("driftline_check_status{")]
    assert len(statuses) == 2, statuses
    assert sample(body, "driftline_check_status", check="quality", status="ok", **lv) == 1
    assert sample(
        body, "driftline_check_value", check="embedding_drift", metric="centroid_shift", **lv
    ) == pytest.approx(0.31)
    assert sample(
        body, "driftline_check_threshold", check="embedding_drift", metric="centroid_shift", **lv
    ) == pytest.approx(0.05)
    finished = datetime(2026, 11, 1, 1, 2, tzinfo=UTC).timestamp()
    assert sample(body, "driftline_last_successful_run_timestamp_seconds", **lv) == finished


@pytest.mark.skipif(
    shutil.which("promtool") is None and not os.environ.get("CI"),
    reason="promtool not installed (apt-get install prometheus); CI always runs this",
)
def test_promtool_check_metrics_is_clean(
    client: TestClient, engine: Engine, ingest_headers: dict[str, str]
) -> None:
    seed_run(engine)
    client.post(
        "/v1/events", json={"model": "m", "prompt": "p", "output": "o"}, headers=ingest_headers
    )
    body = client.get("/metrics").text
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "" and out.stderr.strip() == "", out.stdout + out.stderr


def test_metrics_can_require_a_read_key(
    database_url: str, make_key: Callable[..., str], project_keys: dict[str, dict[str, str]]
) -> None:
    settings = Settings(database_url=None, api_key_cache_seconds=0, metrics_require_key=True)
    with TestClient(create_app(database_url, settings)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=auth(make_key("ingest"))).status_code == 403
        # Fleet-wide: a project's key would see every project's models and verdicts.
        r = client.get("/metrics", headers=project_keys["alpha"])
        assert r.status_code == 403 and "fleet-wide" in r.text
        r = client.get("/metrics", headers=auth(make_key("read")))
        assert r.status_code == 200 and "driftline_collector_up 1.0" in r.text
        assert client.get("/healthz").status_code == 200  # probes stay open


def names(families: object) -> set[str]:
    return {f.name for f in families}  # type: ignore[attr-defined]


def test_with_workers_exporting_one_worker_leads_and_another_takes_over(
    engine: Engine, database_url: str
) -> None:
    from app.metrics.leader import LeaderModelHealth

    first, second = LeaderModelHealth(engine), LeaderModelHealth(engine)
    try:
        led = list(first.collect())
        assert "driftline_collector_up" in names(led) and "driftline_runs" in names(led)
        assert led[-1].samples[0].value == 1.0
        # The second worker is scraped too, and exports nothing but its 0.
        other = list(second.collect())
        assert names(other) == {"driftline_model_health_leader"}
        assert other[0].samples[0].value == 0.0
        first.release()  # the leader's process (and connection) went away
        took_over = list(second.collect())
        assert "driftline_runs" in names(took_over) and took_over[-1].samples[0].value == 1.0
    finally:
        first.release()
        second.release()
    # The api, told that workers export, serves only its own process's series.
    settings = Settings(database_url=None, model_health_exporter="worker")
    with TestClient(create_app(database_url, settings)) as client:
        body = client.get("/metrics").text
    assert "driftline_build_info{" in body and "driftline_http_request_duration" in body
    assert "driftline_collector_up" not in body and "driftline_runs{" not in body


def test_a_worker_that_cannot_reach_the_database_says_so() -> None:
    from sqlalchemy import create_engine

    from app.metrics.leader import LeaderModelHealth

    # Nothing listens on port 1: the lock cannot be taken, and the scrape says why.
    dead = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    families = {f.name: f for f in LeaderModelHealth(dead).collect()}
    assert families["driftline_collector_up"].samples[0].value == 0.0
    assert families["driftline_model_health_leader"].samples[0].value == 0.0
    dead.dispose()


def test_a_window_stored_again_is_scraped_anew_and_a_newer_window_replaces_it(
    client: TestClient, engine: Engine
) -> None:
    """The collector keeps each latest run's series between scrapes; what it keeps must
    never outlive the run's stored version."""
    seed_run(engine)
    lv = {"model": "bot", "monitor": "bot-hourly", "check": "embedding_drift"}
    shift = {**lv, "metric": "centroid_shift"}
    assert sample(client.get("/metrics").text, "driftline_check_value", **shift) == 0.31
    with engine.begin() as conn:  # as the worker stores a recomputed window: one transaction
        conn.execute(text("UPDATE metric_values SET value = 0.07 WHERE metric = 'centroid_shift'"))
        conn.execute(
            text(
                "UPDATE monitor_runs SET verdict = 'ok', finished_at = now(), "
                'results = \'{"checks": {"embedding_drift": {"status": "ok"}}}\''
            )
        )
    body = client.get("/metrics").text
    assert sample(body, "driftline_check_value", **shift) == 0.07
    assert sample(body, "driftline_check_status", status="ok", **lv) == 1
    assert sample(body, "driftline_check_status", status="drift", **lv) is None
    assert sample(body, "driftline_monitor_verdict", verdict="ok", model="bot") == 1
    with engine.begin() as conn:  # the next hour's window: it speaks for the monitor now
        conn.execute(
            text(
                "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end, "
                "status, verdict, n_events, finished_at, results) "
                "SELECT monitor_id, baseline_id, window_end, window_end + interval '1 hour', "
                "'done', 'drift', 99, now(), "
                '\'{"checks": {"embedding_drift": {"status": "drift"}}}\' FROM monitor_runs'
            )
        )
        conn.execute(
            text(
                'INSERT INTO metric_values (run_id, "check", metric, value) '
                "SELECT max(id), 'embedding_drift', 'centroid_shift', 0.44 FROM monitor_runs"
            )
        )
    body = client.get("/metrics").text
    assert sample(body, "driftline_check_value", **shift) == 0.44
    assert sample(body, "driftline_window_events", model="bot") == 99
    assert [line for line in body.splitlines() if "f1" in line and "check_value{" in line] == []


@pytest.mark.parametrize(
    "label",
    [
        "plain",
        'quote " inside',
        "back\\slash \\n not a newline",
        "new\nline",
        "ünïcödé ✓ 中文",
        "",
        "}{,=",
        "trailing\\",
    ],
)
@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 1.0, 0.1, 1e-300, 1e300, 123456789.0, float("inf"), float("-inf"), float("nan")],
)
def test_prerendered_samples_read_back_as_prometheus_client_writes_them(
    label: str, value: float
) -> None:
    """Pre-rendered lines are parsed to the same series and value as prometheus-client's own
    exposition of the same sample, whatever the label holds."""
    import math

    from prometheus_client import generate_latest
    from prometheus_client.core import GaugeMetricFamily

    from app.metrics.prerendered import RenderedFamily, label_pairs, render_families, sample_line

    ours = RenderedFamily("x_value", 'help with "quotes", a \\ and a\nnewline')
    ours.add_text(sample_line("x_value", label_pairs({"model": "m", "feature": label}), value))
    theirs = GaugeMetricFamily("x_value", "h", labels=["model", "feature"])
    theirs.add_metric(["m", label], value)

    class One:
        def collect(self) -> list[GaugeMetricFamily]:
            return [theirs]

    def read(body: bytes) -> list[tuple[dict[str, str], float]]:
        return [
            (s.labels, s.value)
            for f in text_string_to_metric_families(body.decode())
            for s in f.samples
        ]

    ((our_labels, our_value),) = read(render_families([ours]))
    ((their_labels, their_value),) = read(generate_latest(One()))  # type: ignore[arg-type]
    assert our_labels == their_labels == {"model": "m", "feature": label}
    assert our_value == their_value or (math.isnan(our_value) and math.isnan(their_value))
    assert math.copysign(1, our_value) == math.copysign(1, their_value)


def test_the_first_scrape_after_a_start_finds_every_latest_window_formatted(
    database_url: str, settings: Settings, engine: Engine
) -> None:
    """An api process reads and formats the latest windows as it starts, in the background:
    its first scrape reads only the latest runs' keys (in a large fleet the first scrape
    had formatted every window)."""
    seed_run(engine)
    app = create_app(database_url, settings)
    statements: list[str] = []
    with TestClient(app) as c:
        for thread in threading.enumerate():
            if thread.name == "driftline-metrics-warm-up":
                thread.join(30)
        event.listen(
            app.state.driftline.engine, "before_cursor_execute",
            lambda *args: statements.append(args[2]),
        )  # fmt: skip
        body = c.get("/metrics").text
    shift = {"model": "bot", "check": "embedding_drift", "metric": "centroid_shift"}
    assert sample(body, "driftline_check_value", **shift) == 0.31
    assert statements, "the scrape read nothing: the recorder is not on the app's engine"
    assert not [s for s in statements if "metric_values" in s], statements
