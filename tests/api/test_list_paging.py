"""Every list pages: keys, baselines, monitors and a monitor's runs come a bounded page at a
time, and walking ``next_cursor`` gives each row exactly once, in the list's order."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import auth

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def walk(client: TestClient, path: str, field: str, headers: dict[str, str], **query: Any) -> list:
    """Every row of a list, two a page; asserts each page is bounded."""
    rows: list[Any] = []
    cursor = None
    for _ in range(50):
        params = {**query, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        assert len(r.json()[field]) <= 2
        rows += r.json()[field]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("the cursor never ended")


@pytest.fixture
def admin(make_key: Callable[..., str]) -> dict[str, str]:
    return auth(make_key("admin"))


def baseline(client: TestClient, admin: dict[str, str], name: str) -> int:
    records = b'{"prompt": "p", "output": "o"}\n{"prompt": "q", "output": "o"}'
    r = client.post(
        "/v1/baselines", data={"model": "bot", "name": name},
        files={"file": ("b.jsonl", records, "application/x-ndjson")}, headers=admin,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


def test_keys_baselines_and_monitors_page_in_order(
    client: TestClient, admin: dict[str, str], make_key: Callable[..., str]
) -> None:
    for _ in range(4):
        make_key("read")
    keys = walk(client, "/v1/keys", "keys", admin)
    ids = [k["id"] for k in keys]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)  # newest first

    made = [baseline(client, admin, f"b{i}") for i in range(5)]
    listed = walk(client, "/v1/baselines", "baselines", admin)
    assert [b["id"] for b in listed] == sorted(made, reverse=True)

    for i in range(5):
        r = client.post(
            "/v1/monitors",
            json={"name": f"m{i}", "model": "bot", "baseline_id": made[0], "window": "1h"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
    monitors = walk(client, "/v1/monitors", "monitors", admin, model="bot")
    assert [m["name"] for m in monitors] == [f"m{i}" for i in range(5)]  # oldest first
    # One page holds at most 1,000 rows; a cursor this API did not issue is a 422.
    for bad in ({"limit": 1001}, {"limit": 0}, {"cursor": "nope"}, {"cursor": "WzEuNV0="}):
        for path in ("/v1/keys", "/v1/baselines", "/v1/monitors"):
            assert client.get(path, params=bad, headers=admin).status_code == 422, (path, bad)


def test_a_monitors_runs_page_newest_window_first(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    r = client.post(
        "/v1/monitors",
        json={"name": "m", "model": "bot", "baseline_id": baseline(client, admin, "b"),
              "window": "1h"},
        headers=admin,
    )  # fmt: skip
    monitor = r.json()["id"]
    starts = [T0 + timedelta(hours=h) for h in range(7)]
    with engine.begin() as conn:
        for start in starts:
            conn.execute(
                text(
                    "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end)"
                    " VALUES (:m, 0, :s, :e)"
                ),
                {"m": monitor, "s": start, "e": start + timedelta(hours=1)},
            )
    runs = walk(client, f"/v1/monitors/{monitor}/runs", "runs", admin)
    seen = [datetime.fromisoformat(r["window_start"]) for r in runs]
    assert seen == sorted(starts, reverse=True)
    naive = "WyIyMDI2LTExLTAyVDAwOjAwOjAwIl0="  # ["2026-11-02T00:00:00"]: no zone, not ours
    for bad in ("nope", naive):
        r = client.get(f"/v1/monitors/{monitor}/runs", params={"cursor": bad}, headers=admin)
        assert r.status_code == 422, r.text
