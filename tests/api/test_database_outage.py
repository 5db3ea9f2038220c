"""PostgreSQL stopped and restarted mid-test: 503 + Retry-After, then recovery, nothing lost."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.auth.keys import create_key
from app.config import Settings
from app.db.migrate import upgrade
from app.db.session import make_sessionmaker, session_scope
from app.main import create_app
from tests.conftest import auth
from tests.pg import PrivatePostgres


def batch(start: int, n: int) -> dict[str, Any]:
    return {
        "events": [
            {"model": "m", "request_id": f"r{i}", "prompt": f"p{i}", "output": "o"}
            for i in range(start, start + n)
        ]
    }


def scrape(client: TestClient) -> dict[str, float]:
    """``/metrics`` as ``{"name{labels}": value}`` (label sets as Prometheus prints them)."""
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    samples = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name.split("{")[0] if name.startswith("driftline_build_info") else name] = (
                float(value)
            )
    return samples


def test_outage_gives_503_then_recovers_with_every_ack_stored(private_pg: PrivatePostgres) -> None:
    url = private_pg.url()
    upgrade(url)
    engine = create_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        _, key = create_key(session, name="t", scopes=["ingest", "read"])
    engine.dispose()
    headers = auth(key)
    acked: set[str] = set()
    settings = Settings(db_connect_timeout_seconds=2, api_key_cache_seconds=60)

    with TestClient(create_app(url, settings), raise_server_exceptions=False) as client:
        r = client.post("/v1/events", json=batch(0, 100), headers=headers)
        assert r.status_code == 202
        acked.update(r.json()["request_ids"])
        before = scrape(client)
        assert before["driftline_collector_up"] == 1.0
        assert before["driftline_collector_last_success_timestamp_seconds"] > 0

        private_pg.stop()
        r = client.post("/v1/events", json=batch(100, 100), headers=headers)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == str(settings.retry_after_seconds)
        assert r.json()["error"]["code"] == "database_unavailable"
        assert "Traceback" not in r.text
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["database"] == "unreachable"
        assert client.get("/healthz").status_code == 200
        # /metrics still answers: the collector says it failed, the process's own counters
        # (the 503s just given among them) are all there, so alerts can see the outage.
        during = scrape(client)
        assert during["driftline_collector_up"] == 0.0
        assert (
            during["driftline_collector_last_success_timestamp_seconds"]
            == before["driftline_collector_last_success_timestamp_seconds"]
        )
        assert during["driftline_build_info"] == 1.0
        assert during['driftline_ingest_events_total{outcome="accepted"}'] >= 100
        assert any(k.startswith("driftline_http_request_duration_seconds_count") for k in during)

        private_pg.start()
        # The client retries the refused batch; the pool replaces its dead connections itself.
        r = client.post("/v1/events", json=batch(100, 100), headers=headers)
        assert r.status_code == 202, r.text
        acked.update(r.json()["request_ids"])
        assert client.get("/readyz").status_code == 200
        assert scrape(client)["driftline_collector_up"] == 1.0

    engine = create_engine(url)
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT request_id FROM events")).scalars())
    engine.dispose()
    assert acked == stored and len(stored) == 200


def test_a_restart_between_requests_costs_no_ingest_request(private_pg: PrivatePostgres) -> None:
    """The ingest writers keep their connections without a ping per transaction: one found
    dead after a restart is replaced and the write retried, so the client never sees it."""
    url = private_pg.url()
    upgrade(url)
    engine = create_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        _, key = create_key(session, name="t", scopes=["ingest"])
    engine.dispose()
    settings = Settings(db_connect_timeout_seconds=2, api_key_cache_seconds=60, ingest_writers=1)
    with TestClient(create_app(url, settings), raise_server_exceptions=False) as client:
        assert client.post("/v1/events", json=batch(0, 5), headers=auth(key)).status_code == 202
        private_pg.stop()
        private_pg.start()
        r = client.post("/v1/events", json=batch(5, 5), headers=auth(key))
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == 5
