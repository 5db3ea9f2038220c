"""Daily partitions of events: where events land, how retention drops whole days, and why a
retry is still a duplicate when its ts differs."""

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from app.db.partitions import day_partitions, ensure_day_partitions
from app.db.writers import COPY_MIN_ROWS
from app.jobs.featurise import featurise_pending
from app.jobs.retention import apply_retention

# Far from today, so these partitions never meet the ones other tests write into.
DAYS = [date(2025, 1, d) for d in range(1, 8)]


@pytest.fixture
def january(engine: Engine) -> Iterator[list[date]]:
    """Partitions for 2025-01-01..07, dropped again afterwards."""
    ensure_day_partitions(engine, days_back=len(DAYS) - 1, days_ahead=0, today=DAYS[-1])
    yield DAYS
    with engine.begin() as conn:
        for name in {**day_partitions(conn), **day_partitions(conn, detached=True)}.values():
            if name.startswith("events_p2025") or name.startswith("events_p2024"):
                conn.execute(text(f"DROP TABLE {name}"))


def _post(client: TestClient, headers: dict[str, str], rid: str, ts: datetime | None) -> int:
    event = {"model": "m", "request_id": rid, "prompt": f"prompt {rid}", "output": "o"}
    if ts is not None:
        event["ts"] = ts.isoformat()
    r = client.post("/v1/events", json=event, headers=headers)
    assert r.status_code == 202, r.text
    return int(r.json()["accepted"])


def _partition_of_each(conn: Connection) -> dict[str, str]:
    rows = conn.execute(text("SELECT request_id, tableoid::regclass::text FROM events"))
    return {request_id: partition for request_id, partition in rows}


def _noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def test_events_land_in_their_days_partition(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine, january: list[date]
) -> None:
    for day in january:
        _post(client, ingest_headers, f"r{day:%d}", _noon(day))
    with engine.connect() as conn:
        where = _partition_of_each(conn)
    assert where == {f"r{d:%d}": f"events_p{d:%Y%m%d}" for d in january}


def test_retention_drops_whole_old_days_with_their_keys_and_features(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine, january: list[date]
) -> None:
    for day in january:
        for i in range(3):
            _post(client, ingest_headers, f"r{day:%d}-{i}", _noon(day))
    _post(client, ingest_headers, "backfill", datetime(2024, 6, 1, tzinfo=UTC))  # default
    featurise_pending(engine)

    # 2025-01-07 minus 3 days: the cutoff is 01-04 00:00, so 01-01..03 go whole.
    removed = apply_retention(engine, days=3, now=datetime(2025, 1, 7, tzinfo=UTC))
    assert removed["partitions"] == 3 and removed["events"] == 3 * 3 + 1

    with engine.connect() as conn:
        left = set(conn.execute(text("SELECT request_id FROM events")).scalars())
        keys = set(conn.execute(text("SELECT request_id FROM event_keys")).scalars())
        features = conn.execute(text("SELECT count(*) FROM event_features")).scalar_one()
        partitions = set(day_partitions(conn))
    kept = {f"r{d:%d}-{i}" for d in january[3:] for i in range(3)}
    assert left == kept and keys == kept and features == len(kept)
    assert not partitions & set(january[:3]) and set(january[3:]) <= partitions
    # A forgotten event sent again is stored again: retention forgets it entirely.
    assert _post(client, ingest_headers, "r01-0", _noon(january[0])) == 1


def test_a_new_partition_takes_over_its_days_rows_from_the_default(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine, january: list[date]
) -> None:
    day = date(2024, 3, 3)
    _post(client, ingest_headers, "early", _noon(day))
    _post(client, ingest_headers, "next-day", _noon(day + timedelta(days=1)))
    assert ensure_day_partitions(engine, days_back=0, days_ahead=0, today=day) == [
        "events_p20240303"
    ]
    with engine.connect() as conn:
        where = _partition_of_each(conn)
    assert where == {"early": "events_p20240303", "next-day": "events_default"}


def test_a_retry_is_a_duplicate_even_when_its_ts_differs(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    # Without a ts the server stamps each attempt anew; the retry must still not be stored.
    assert _post(client, ingest_headers, "same", None) == 1
    assert _post(client, ingest_headers, "same", None) == 0
    assert _post(client, ingest_headers, "same", datetime(2024, 1, 1, tzinfo=UTC)) == 0
    n = COPY_MIN_ROWS  # distinct ids, each sent twice with another ts
    batch = {"events": [{"model": "m", "request_id": f"b{i % n}", "prompt": "p", "output": "o",
                         "ts": (datetime.now(UTC) - timedelta(days=i % 3)).isoformat()}
                        for i in range(2 * n)]}  # fmt: skip
    r = client.post("/v1/events", json=batch, headers=ingest_headers)
    assert r.json()["accepted"] == n and r.json()["duplicates"] == n
    r = client.post("/v1/events", json=batch, headers=ingest_headers)  # COPY path, then fallback
    assert r.json()["accepted"] == 0 and r.json()["duplicates"] == 2 * n
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == n + 1
        assert conn.execute(text("SELECT count(*) FROM event_keys")).scalar_one() == n + 1


def test_retention_and_partition_upkeep_under_ingest_lose_nothing(
    driftline: str,
    client: TestClient,
    ingest_headers: dict[str, str],
    engine: Engine,
    january: list[date],
) -> None:
    # Detaching and dropping old days takes locks on events while a client keeps sending.
    headers = ingest_headers
    acked: set[str] = set()
    failures: list[str] = []
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=driftline, headers=headers, timeout=30) as http:
            n = 0
            while not stop.is_set():
                batch = [{"model": "m", "request_id": f"live-{n}-{i}", "prompt": "p",
                          "output": "o"} for i in range(50)]  # fmt: skip
                n += 1
                r = http.post("/v1/events", json={"events": batch})
                if r.status_code == 202:
                    acked.update(r.json()["request_ids"])
                else:
                    failures.append(f"{r.status_code} {r.text[:200]}")

    for day in january:
        _post(client, headers, f"old-{day:%d}", _noon(day))
    sender = threading.Thread(target=send)
    sender.start()
    try:
        time.sleep(0.5)
        removed = apply_retention(engine, days=3, now=datetime(2025, 1, 7, tzinfo=UTC))
        created = ensure_day_partitions(engine, days_back=0, days_ahead=0, today=date(2024, 2, 2))
        time.sleep(0.5)
    finally:
        stop.set()
        sender.join()
    assert removed["partitions"] == 3 and created == ["events_p20240202"]
    assert failures == [] and len(acked) > 0
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT request_id FROM events")).scalars())
    assert acked <= stored
    assert stored - acked == {f"old-{d:%d}" for d in january[3:]}
