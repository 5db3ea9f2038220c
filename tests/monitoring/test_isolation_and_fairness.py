"""No monitor can stop or starve the others: bounds, per-monitor errors, fair claims."""

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine, event, text

from app.baselines.profiles import build_pending_profiles
from app.config import Settings
from app.datasets import health_tweets
from app.jobs import scheduler
from app.monitoring import runs, worker
from app.monitoring.results import RunStatus
from tests.conftest import auth

MINUTE = timedelta(minutes=1)
TWEETS = list(health_tweets(without_urls=True).text[:80])


@pytest.fixture
def admin(make_key: Callable[..., str]) -> dict[str, str]:
    return auth(make_key("admin"))


def baseline(client: TestClient, admin: dict[str, str], name: str) -> int:
    records = [{"prompt": t, "output": "ok"} for t in TWEETS]
    r = client.post(
        "/v1/baselines", json={"model": "bot", "name": name, "records": records}, headers=admin
    )
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


def monitor(client: TestClient, admin: dict[str, str], bid: int, name: str, **body: object) -> int:
    payload = {"model": "bot", "baseline_id": bid, "name": name, "delay": "0s", **body}
    r = client.post("/v1/monitors", json=payload, headers=admin)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def floor_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def test_start_at_bounds_and_the_pending_cap_are_422s_naming_the_limit(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    bid = baseline(client, admin, "b")
    far = {"model": "bot", "baseline_id": bid, "start_at": "9999-12-31T00:00:00Z"}
    r = client.post("/v1/monitors", json=far, headers=admin)
    assert r.status_code == 422 and "later than one window from now" in r.text, r.text
    old = {"model": "bot", "baseline_id": bid, "start_at": "2000-01-01T00:00:00Z"}
    r = client.post("/v1/monitors", json=old, headers=admin)
    assert r.status_code == 422 and "backfill horizon" in r.text, r.text
    assert "DRIFTLINE_MAX_BACKFILL_DAYS" in r.json()["error"]["message"]
    year_ago = floor_minute(datetime.now(UTC) - timedelta(days=365))
    mid = monitor(client, admin, bid, "year", window="1m", start_at=year_ago.isoformat())
    cap = settings.max_pending_runs
    r = client.post(
        f"/v1/monitors/{mid}/runs",
        json={"start": year_ago.isoformat(), "end": (year_ago + (cap + 1) * MINUTE).isoformat()},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_windows", r.text
    assert r.json()["error"]["details"]["limit"] == cap
    assert "DRIFTLINE_MAX_PENDING_RUNS" in r.json()["error"]["message"]
    ok = client.post(
        f"/v1/monitors/{mid}/runs",
        json={"start": year_ago.isoformat(), "end": (year_ago + 10 * MINUTE).isoformat()},
        headers=admin,
    )
    assert ok.status_code == 202 and len(ok.json()["runs"]) == 10


def test_a_years_backfill_never_delays_a_live_window_and_history_goes_round_robin(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    bid = baseline(client, admin, "b")
    build_pending_profiles(engine)
    now = datetime.now(UTC)
    year_ago = floor_minute(now - timedelta(days=365))
    history = monitor(client, admin, bid, "year", window="1m", start_at=year_ago.isoformat())
    hour_ago = floor_minute(now - timedelta(hours=1))
    other = monitor(client, admin, bid, "hour", window="1m", start_at=hour_ago.isoformat())
    minute_ago = floor_minute(now - MINUTE)
    live_only = monitor(client, admin, bid, "live", window="1m", start_at=minute_ago.isoformat())
    runs.plan_due_windows(engine, max_pending=300, now=now)
    with engine.connect() as conn:
        pending = dict(
            conn.execute(
                text(
                    "SELECT monitor_id, count(*) FROM monitor_runs WHERE status = 'pending' "
                    "GROUP BY monitor_id"
                )
            ).all()
        )
    # The year-long backfill is capped; the others' are planned whole, live windows included.
    assert pending[history] == 300 and pending[other] == 60 and pending[live_only] == 1

    claimed = [runs.claim_run(engine, lease_seconds=60) for _ in range(9)]
    assert all(claimed)
    monitors = [c.monitor_id for c in claimed if c]
    with engine.connect() as conn:
        starts = dict(
            conn.execute(
                text("SELECT id, window_start FROM monitor_runs WHERE id = ANY(:ids)"),
                {"ids": [c.run_id for c in claimed if c]},
            ).all()
        )
    # First every monitor's live window (the newest closed one) ...
    assert sorted(monitors[:3]) == sorted([history, other, live_only])
    assert all(now - starts[c.run_id] < 5 * MINUTE for c in claimed[:3] if c)
    # ... then history, oldest first, alternating between the monitors that have some.
    assert monitors[3:] == [history, other] * 3 or monitors[3:] == [other, history] * 3
    history_starts = [starts[c.run_id] for c in claimed[3:] if c and c.monitor_id == history]
    assert history_starts == [year_ago, year_ago + MINUTE, year_ago + 2 * MINUTE]


def _monitors_with_windows(
    client: TestClient, admin: dict[str, str], engine: Engine, count: int, windows: int
) -> tuple[list[int], datetime]:
    """``count`` one-minute monitors, each with ``windows`` closed windows planned; and the
    newest window's start."""
    bid = baseline(client, admin, "b")
    build_pending_profiles(engine)
    now = datetime.now(UTC)
    start = floor_minute(now - windows * MINUTE)
    ids = [
        monitor(client, admin, bid, f"m{i}", window="1m", start_at=start.isoformat())
        for i in range(count)
    ]
    runs.plan_due_windows(engine, max_pending=300, now=now)
    return ids, start + (windows - 1) * MINUTE


def _runs(engine: Engine) -> list[tuple[int, str, int, bool, bool]]:
    """Every run: (id, status, attempts, has a lease, has a worker)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, status, attempts, lease_until IS NOT NULL, worker IS NOT NULL "
                "FROM monitor_runs ORDER BY id"
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_batch_claim_takes_the_windows_single_claims_would_in_their_order(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    ids, live = _monitors_with_windows(client, admin, engine, 5, 3)

    def starts(claims: list[runs.Claim]) -> list[datetime]:
        with engine.connect() as conn:
            got = dict(
                conn.execute(
                    text("SELECT id, window_start FROM monitor_runs WHERE id = ANY(:ids)"),
                    {"ids": [c.run_id for c in claims]},
                ).all()
            )
        return [got[c.run_id] for c in claims]

    first = runs.claim_runs(engine, lease_seconds=60, limit=3)
    assert len(first) == 3 and starts(first) == [live] * 3
    # At most one window per monitor a batch: the two live windows left, then history from
    # the monitors served longest ago (the three just claimed), oldest window first.
    second = runs.claim_runs(engine, lease_seconds=60, limit=10)
    assert len(second) == 5 and starts(second)[:2] == [live] * 2
    assert {c.monitor_id for c in second} == set(ids)
    assert [c.monitor_id for c in second[2:]] == [c.monitor_id for c in first]
    assert starts(second)[2:] == [live - 2 * MINUTE] * 3
    assert all(attempts == 1 for _, status, attempts, _, _ in _runs(engine) if status == "running")


def test_a_stopping_worker_gives_back_the_windows_it_claimed_and_did_not_start(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    _monitors_with_windows(client, admin, engine, 6, 2)
    stop = threading.Event()
    outcomes: list[str] = []
    held_leases: list[float] = []

    def heard(outcome: str) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 2:  # the first window was alone; the second came in a batch
            with engine.connect() as conn:
                held_leases.extend(
                    conn.execute(
                        text(
                            "SELECT extract(epoch FROM lease_until - now()) FROM monitor_runs "
                            "WHERE status = 'running'"
                        )
                    ).scalars()
                )
            stop.set()

    ran = worker.run_pending(engine, lease_seconds=600, sample_cap=1000, stop=stop,
                             on_outcome=heard)  # fmt: skip
    assert ran == 2 and outcomes == ["insufficient_data"] * 2
    # Those claimed with the second waited on the short hold, not the 600 s lease ...
    assert held_leases and max(held_leases) <= worker.CLAIM_HOLD_SECONDS
    # ... and are pending again as if never claimed.
    left = _runs(engine)
    assert sum(status == "insufficient_data" for _, status, _, _, _ in left) == 2
    waiting = [r for r in left if r[1] != "insufficient_data"]
    assert waiting and all(r[1:] == ("pending", 0, False, False) for r in waiting), waiting
    assert worker.run_pending(engine, lease_seconds=600, sample_cap=1000, max_runs=100) == 10
    assert {r[1:3] for r in _runs(engine)} == {("insufficient_data", 1)}


def test_a_held_claim_another_worker_took_over_is_not_computed_twice(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    _monitors_with_windows(client, admin, engine, 2, 1)
    mine = runs.claim_runs(engine, lease_seconds=30, limit=2)
    assert len(mine) == 2
    with engine.begin() as conn:  # the second's turn came after its hold ran out
        conn.execute(
            text("UPDATE monitor_runs SET lease_until = now() - interval '1 second' WHERE id = :r"),
            {"r": mine[1].run_id},
        )
    theirs = runs.claim_run(engine, lease_seconds=600, worker="other")
    assert theirs is not None and theirs.run_id == mine[1].run_id and theirs.attempt == 2
    assert worker.execute_run(engine, mine[0], sample_cap=1000) == "insufficient_data"
    assert worker.execute_run(engine, mine[1], sample_cap=1000) == "lost"
    assert worker.execute_run(engine, theirs, sample_cap=1000) == "insufficient_data"


def test_a_poisoned_monitor_is_recorded_on_itself_and_the_healthy_one_is_computed(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    good = baseline(client, admin, "good")
    doomed = baseline(client, admin, "doomed")
    with engine.begin() as conn:  # a profile that cannot be built
        conn.execute(
            text("UPDATE baselines SET embedder = 'nonexistent' WHERE id = :b"), {"b": doomed}
        )
    build_pending_profiles(engine)
    start = floor_minute(datetime.now(UTC) - 5 * MINUTE).isoformat()
    healthy = monitor(client, admin, good, "healthy", window="1m", start_at=start)
    broken = monitor(client, admin, good, "broken", window="1m", start_at=start)
    stale_profile = monitor(client, admin, doomed, "on-a-failed-baseline", window="1m")
    far_future = monitor(client, admin, good, "far-future", window="1m")
    with engine.begin() as conn:
        # What the API now refuses but an older database may hold.
        conn.execute(
            text("UPDATE monitors SET start_at = '9999-12-31' WHERE id = :m"), {"m": far_future}
        )
        conn.execute(
            text("""UPDATE monitors SET thresholds = '{"no_such_threshold": 1}' WHERE id = :m"""),
            {"m": broken},
        )
    assert client.get(f"/v1/baselines/{doomed}", headers=admin).json()["status"] == "failed"

    settings = Settings(worker_poll_seconds=1)
    scheduler.worker_tick(engine, settings)

    def listed(mid: int) -> list[dict[str, object]]:
        r = client.get(f"/v1/monitors/{mid}/runs", headers=admin)
        return list(r.json()["runs"])

    assert {r["status"] for r in listed(healthy)} == {"insufficient_data"}
    assert len(listed(healthy)) == 5
    assert {r["status"] for r in listed(broken)} == {"failed"}
    assert listed(stale_profile) == [] and listed(far_future) == []
    shown = client.get(f"/v1/monitors/{broken}", headers=admin).json()
    assert "no_such_threshold" in shown["last_error"] and shown["error_count"] == 5
    assert client.get(f"/v1/monitors/{healthy}", headers=admin).json()["last_error"] is None
    metrics = client.get("/metrics").text
    assert 'driftline_monitor_errors_total{model="bot",monitor="broken"} 5.0' in metrics


def test_a_failing_step_does_not_stop_the_tick(
    client: TestClient, admin: dict[str, str], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    bid = baseline(client, admin, "b")
    build_pending_profiles(engine)
    start = floor_minute(datetime.now(UTC) - 3 * MINUTE).isoformat()
    mid = monitor(client, admin, bid, "m", window="1m", start_at=start)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("canceling statement due to statement timeout")

    monkeypatch.setattr(runs, "requeue_late_labels", broken)
    scheduler.worker_tick(engine, Settings())
    listed = client.get(f"/v1/monitors/{mid}/runs", headers=admin).json()["runs"]
    assert [r["status"] for r in listed] == [RunStatus.INSUFFICIENT_DATA.value] * 3


def test_a_tick_goes_on_while_windows_keep_coming_due(
    client: TestClient, admin: dict[str, str], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass computes a bounded number of windows; a backlog is worked through in one tick
    (pass after pass) instead of one pass per poll interval, with the worker idle between."""
    bid = baseline(client, admin, "b")
    build_pending_profiles(engine)
    start = floor_minute(datetime.now(UTC) - 7 * MINUTE).isoformat()
    mid = monitor(client, admin, bid, "m", window="1m", start_at=start)
    monkeypatch.setattr(worker, "RUNS_PER_TICK", 2)

    def passes() -> float:
        sample = "driftline_worker_tick_seconds_count"
        return REGISTRY.get_sample_value(sample, {"lane": "worker"}) or 0.0

    before = passes()
    scheduler.worker_tick(engine, Settings())
    listed = client.get(f"/v1/monitors/{mid}/runs", headers=admin).json()["runs"]
    assert [r["status"] for r in listed] == [RunStatus.INSUFFICIENT_DATA.value] * 7
    assert passes() - before == 4  # 2 + 2 + 2 + 1: the last found fewer than it may compute


def test_a_tick_goes_on_while_reports_keep_coming_due(
    client: TestClient, admin: dict[str, str], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports share a pass's turns with windows: a backlog of them (after a burst of flagged
    windows) is worked through in one tick too, not one pass per poll interval."""
    bid = baseline(client, admin, "b")
    build_pending_profiles(engine)
    start = floor_minute(datetime.now(UTC) - 7 * MINUTE).isoformat()
    monitor(client, admin, bid, "m", window="1m", start_at=start)
    scheduler.worker_tick(engine, Settings())  # the 7 windows, none with a report
    with engine.begin() as conn:  # as if each had been flagged
        conn.execute(text("UPDATE monitor_runs SET status = 'done', verdict = 'warning', "
                          "report_due_at = now()"))  # fmt: skip
    monkeypatch.setattr(worker, "RUNS_PER_TICK", 2)

    def handled() -> float:
        return REGISTRY.get_sample_value("driftline_worker_reports_total") or 0.0

    before = handled()
    scheduler.worker_tick(engine, Settings())
    with engine.connect() as conn:
        assert runs.reports_due(conn) == 0
    assert handled() - before == 7


def test_a_tick_costs_what_is_due_not_how_many_monitors_exist(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    bid = baseline(client, admin, "b")
    build_pending_profiles(engine)
    start = floor_minute(datetime.now(UTC)) - 2 * MINUTE
    for i in range(30):
        monitor(client, admin, bid, f"m{i}", window="1m", start_at=start.isoformat())
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    def tick(at: datetime) -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            return runs.plan_due_windows(engine, max_pending=300, now=at)
        finally:
            event.remove(engine, "before_cursor_execute", count)

    at = start + 2 * MINUTE
    assert tick(at) == 60  # every monitor's two closed windows
    assert tick(at + timedelta(seconds=30)) == 0  # nothing closed since
    assert len(statements) == 2, statements  # two queries, however many monitors exist
    assert tick(at + MINUTE) == 30  # the next minute closed for all of them: in step,
    assert len(statements) == 2, statements  # all planned by one statement
    # A monitor with windows of its own to plan is the only one a tick touches one by one.
    monitor(client, admin, bid, "late", window="1m", start_at=at.isoformat())
    assert tick(at + MINUTE + timedelta(seconds=30)) == 1
    assert len(statements) < 10, statements
