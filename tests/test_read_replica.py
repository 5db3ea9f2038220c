"""Reads off a streaming replica (DRIFTLINE_READ_DATABASE_URL), on two real PostgreSQL
servers in streaming replication started by the test: every write goes to the primary; the
worker reads a window from the replica only once it has replayed everything the primary
held, so a lagging replica never gives a verdict on missing events; pages and lists read
the replica."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from app.auth.keys import create_key
from app.baselines.profiles import build_pending_profiles
from app.config import Settings
from app.datasets import health_tweets
from app.db.migrate import upgrade
from app.db.replica import ReadReplica
from app.db.session import make_sessionmaker, session_scope
from app.jobs.featurise import featurise_pending
from app.jobs.scheduler import build_scheduler
from app.main import create_app
from app.monitoring.runs import plan_due_windows
from app.monitoring.worker import run_pending
from tests.conftest import auth
from tests.replication import Pair, streaming_pair

pytestmark = pytest.mark.slow

ORIGIN = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
TWEETS = list(health_tweets(without_urls=True).text[:400])


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with streaming_pair() as servers:
        upgrade(servers.primary_url)
        yield servers


@pytest.fixture
def engines(pair: Pair) -> Iterator[tuple[Engine, Engine]]:
    primary, replica = create_engine(pair.primary_url), create_engine(pair.replica_url)
    yield primary, replica
    primary.dispose()
    replica.dispose()


def _hour(client: TestClient, admin: dict[str, str], hour: int) -> None:
    events = [
        {"model": "bot", "request_id": f"h{hour}-{i}", "prompt": TWEETS[100 + 60 * hour + i],
         "output": "ok", "ts": (ORIGIN + hour * HOUR + timedelta(seconds=30 * i)).isoformat()}
        for i in range(60)
    ]  # fmt: skip
    r = client.post("/v1/events", json={"events": events}, headers=admin)
    assert r.status_code == 202 and r.json()["accepted"] == 60, r.text


def _events_listed(client: TestClient, admin: dict[str, str], hour: int) -> int:
    window = {"model": "bot", "from": (ORIGIN + hour * HOUR).isoformat(),
              "to": (ORIGIN + (hour + 1) * HOUR).isoformat(), "limit": 100}  # fmt: skip
    r = client.get("/v1/events", params=window, headers=admin)
    assert r.status_code == 200, r.text
    return len(r.json()["events"])


def test_windows_are_read_off_the_replica_only_once_it_has_caught_up(
    pair: Pair, engines: tuple[Engine, Engine]
) -> None:
    primary, replica = engines
    settings = Settings(
        database_url=None, api_key_cache_seconds=0, read_database_url=pair.replica_url
    )
    with session_scope(make_sessionmaker(primary)) as session:
        _, key = create_key(session, name="admin", scopes=["admin"])
    admin = auth(key)
    with TestClient(create_app(pair.primary_url, settings)) as client:
        records = [{"prompt": t, "output": "ok"} for t in TWEETS[:100]]
        r = client.post(
            "/v1/baselines", json={"model": "bot", "name": "b", "records": records}, headers=admin
        )
        assert r.status_code == 202, r.text
        build_pending_profiles(primary)
        r = client.post(
            "/v1/monitors",
            json={"model": "bot", "baseline_id": r.json()["id"], "name": "hourly", "window": "1h",
                  "delay": "0s", "start_at": ORIGIN.isoformat(), "min_events": 20},
            headers=admin,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        monitor = r.json()["id"]
        reads: list[str] = []

        def compute(at: datetime, wait_seconds: float) -> dict[str, object]:
            featurise_pending(primary)
            plan_due_windows(primary, now=at, max_pending=100)
            ran = run_pending(
                primary, lease_seconds=300, sample_cap=10_000,
                replica=ReadReplica(replica, wait_seconds), on_read=reads.append,
            )  # fmt: skip
            assert ran == 1
            runs = client.get(f"/v1/monitors/{monitor}/runs", headers=admin).json()["runs"]
            return dict(runs[0])  # newest first

        # Caught up: the replica serves the window, every event in it.
        _hour(client, admin, 0)
        first = compute(ORIGIN + HOUR, wait_seconds=30)
        assert reads == ["replica"]
        assert first["status"] == "done" and first["n_events"] == 60, first

        # Lagging: the replica has not replayed the next hour's events; reading it would
        # give a window of no events (insufficient data). The worker reads the primary.
        pair.pause_replay()
        try:
            _hour(client, admin, 1)
            assert _events_listed(client, admin, 1) == 0  # the API's lists read the replica
            second = compute(ORIGIN + 2 * HOUR, wait_seconds=0.5)
            assert reads == ["replica", "primary"]
            assert second["status"] == "done" and second["n_events"] == 60, second
        finally:
            pair.resume_replay()
        deadline = time.monotonic() + 30
        while _events_listed(client, admin, 1) < 60 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _events_listed(client, admin, 1) == 60  # replayed, the replica has them all


def test_the_worker_reads_through_the_replica_named_in_its_settings(pair: Pair) -> None:
    engine = create_engine(pair.primary_url)
    settings = Settings(database_url=pair.primary_url, read_database_url=pair.replica_url)
    jobs = {job.id: job for job in build_scheduler(engine, settings, blocking=False).get_jobs()}
    replica = jobs["worker_tick"].kwargs["replica"]
    assert replica.engine is not None and replica.engine.url.query["host"] == str(
        pair.replica_socket
    )
    assert replica.wait_seconds == settings.replica_wait_seconds
    assert "replica" not in jobs["profile_tick"].kwargs
    replica.engine.dispose()
    engine.dispose()
