"""GET /v1/events and /v1/events/{model}/{request_id}: the events behind a verdict, filtered,
searched and paged, project-scoped, with bounded scans."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.auth.keys import create_key
from app.auth.projects import create_project
from app.db.session import make_sessionmaker, session_scope
from tests.conftest import auth

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RANGE = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=2)).isoformat()}


def event(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "model": "shop-bot", "request_id": f"r{i:03d}",
        "ts": (T0 + timedelta(minutes=i)).isoformat(),
        "prompt": f"question {i} about {'refunds' if i % 3 == 0 else 'delivery'}",
        "output": f"answer {i}", "prediction": "refund" if i % 3 == 0 else "delivery",
        "metadata": {"tenant": "acme" if i % 2 == 0 else "globex", "tier": i % 4},
        **extra,
    }  # fmt: skip


@pytest.fixture
def stored(client: TestClient, make_key: Callable[..., str]) -> dict[str, str]:
    """60 events of shop-bot over an hour; labels for every 5th, a score for every 7th."""
    write = auth(make_key("ingest"))
    r = client.post("/v1/events", json={"events": [event(i) for i in range(60)]}, headers=write)
    assert r.status_code == 202, r.text
    feedback = [{"model": "shop-bot", "request_id": f"r{i:03d}", "label": "refund"}
                for i in range(0, 60, 5)]  # fmt: skip
    feedback += [{"model": "shop-bot", "request_id": f"r{i:03d}", "score": 0.5}
                 for i in range(1, 60, 7)]  # fmt: skip
    assert (
        client.post("/v1/feedback", json={"feedback": feedback}, headers=write).status_code == 202
    )
    return auth(make_key("read"))


def ids(page: dict[str, Any]) -> list[str]:
    return [e["request_id"] for e in page["events"]]


def test_pages_walk_every_event_newest_first_without_repeats(
    client: TestClient, stored: dict[str, str]
) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {
            "model": "shop-bot",
            **RANGE,
            "limit": 25,
            **({"cursor": cursor} if cursor else {}),
        }
        r = client.get("/v1/events", params=params, headers=stored)
        assert r.status_code == 200, r.text
        seen += ids(r.json())
        pages += 1
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 60 == len(set(seen))
    assert seen == [f"r{i:03d}" for i in reversed(range(60))]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"prediction": "refund"}, [i for i in range(60) if i % 3 == 0]),
        ({"label": "refund"}, list(range(0, 60, 5))),
        ({"has_label": "true"}, list(range(0, 60, 5))),
        ({"has_label": "false"}, [i for i in range(60) if i % 5]),
        ({"has_score": "true"}, list(range(1, 60, 7))),
        ({"metadata": "tenant:acme"}, list(range(0, 60, 2))),
        ({"metadata": ["tenant:acme", "tier:2"]}, list(range(2, 60, 4))),  # a number, as text
        ({"q": "REFUNDS"}, [i for i in range(60) if i % 3 == 0]),
        ({"q": "answer 1"}, [i for i in range(60) if str(i).startswith("1")]),
        ({"q": "100%_"}, []),  # LIKE's wildcards are literal in a search
        ({"prediction": "refund", "has_label": "true"}, list(range(0, 60, 15))),
    ],
)
def test_filters_give_exactly_the_matching_events(
    client: TestClient, stored: dict[str, str], params: dict[str, Any], expected: list[int]
) -> None:
    r = client.get(
        "/v1/events", params={"model": "shop-bot", **RANGE, "limit": 200, **params}, headers=stored
    )
    assert r.status_code == 200, r.text
    assert sorted(ids(r.json())) == [f"r{i:03d}" for i in expected]


def test_the_time_range_is_half_open_and_bounded(
    client: TestClient, stored: dict[str, str]
) -> None:
    window = {"from": (T0 + timedelta(minutes=10)).isoformat(),
              "to": (T0 + timedelta(minutes=20)).isoformat()}  # fmt: skip
    r = client.get("/v1/events", params={"model": "shop-bot", **window}, headers=stored)
    assert sorted(ids(r.json())) == [f"r{i:03d}" for i in range(10, 20)]
    wide = {"from": T0.isoformat(), "to": (T0 + timedelta(days=40)).isoformat()}
    r = client.get("/v1/events", params={"model": "shop-bot", **wide}, headers=stored)
    assert r.status_code == 422 and r.json()["error"]["code"] == "range_too_wide"
    r = client.get("/v1/events", params={"model": "shop-bot"}, headers=stored)
    assert r.status_code == 422  # no range: no unbounded scan
    backwards = {"from": RANGE["to"], "to": RANGE["from"]}
    r = client.get("/v1/events", params={"model": "shop-bot", **backwards}, headers=stored)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_range"
    for bad in ({"cursor": "not-a-cursor"}, {"metadata": "no-colon"}, {"limit": 1000}):
        r = client.get("/v1/events", params={"model": "shop-bot", **RANGE, **bad}, headers=stored)
        assert r.status_code == 422, (bad, r.text)


def test_one_event_in_full_with_its_feedback(client: TestClient, stored: dict[str, str]) -> None:
    r = client.get("/v1/events/shop-bot/r005", headers=stored)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["prompt"] == "question 5 about delivery" and body["label"] == "refund"
    assert body["metadata"] == {"tenant": "globex", "tier": 1}
    assert "features" in body  # null until the worker featurises it
    assert client.get("/v1/events/shop-bot/nope", headers=stored).status_code == 404
    ingest_only = client.get("/v1/events/shop-bot/r005", headers=auth(_key(client)))
    assert ingest_only.status_code == 403


def _key(client: TestClient) -> str:
    engine: Engine = client.app.state.driftline.engine  # type: ignore[attr-defined]
    with session_scope(make_sessionmaker(engine)) as session:
        return create_key(session, name="ingest-only", scopes=["ingest"])[1]


def test_another_projects_events_look_absent(
    client: TestClient, stored: dict[str, str], engine: Engine
) -> None:
    with session_scope(make_sessionmaker(engine)) as session:
        other = create_project(session, "other")
        _, key = create_key(session, name="other-reader", scopes=["read"], project_id=other.id)
    r = client.get("/v1/events", params={"model": "shop-bot", **RANGE}, headers=auth(key))
    assert r.status_code == 404
    assert client.get("/v1/events/shop-bot/r005", headers=auth(key)).status_code == 404


def test_hostile_parameters_are_4xx_never_5xx(client: TestClient, stored: dict[str, str]) -> None:
    import base64
    import json

    def forged(ts: str, event_id: object) -> str:
        return base64.urlsafe_b64encode(json.dumps([ts, event_id]).encode()).decode()

    for bad in (
        {"q": "a\x00b"}, {"label": "\x00"}, {"metadata": "k:\x00"}, {"version": "v\x00"},
        {"cursor": forged("2026-11-30T12:00:00+00:00", 2**70)},
        {"cursor": forged("2026-11-30T12:00:00", 1)}, {"cursor": forged("yesterday", 1)},
        {"cursor": "\x00"}, {"from": "2026-13-40"},
    ):  # fmt: skip
        r = client.get("/v1/events", params={"model": "shop-bot", **RANGE, **bad}, headers=stored)
        assert r.status_code == 422, (bad, r.status_code, r.text)
    assert client.get("/v1/events/shop-bot/r%00", headers=stored).status_code == 422


def test_what_the_windows_flagged_is_a_filter_and_part_of_the_event(
    client: TestClient, stored: dict[str, str], make_key: Callable[..., str], engine: Engine
) -> None:
    from sqlalchemy import text

    admin = auth(make_key("admin"))
    records = "\n".join('{"prompt": "p", "output": "o"}' for _ in range(5)).encode()
    r = client.post(
        "/v1/baselines", data={"model": "shop-bot", "name": "b"},
        files={"file": ("b.jsonl", records, "application/x-ndjson")}, headers=admin,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    r = client.post(
        "/v1/monitors",
        json={"name": "m", "model": "shop-bot", "baseline_id": r.json()["id"], "window": "1h",
              "start_at": T0.isoformat()},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    # A computed window's result as the worker stores it: the long tail's most novel events,
    # the label queue and a judge's failures each name some events.
    results = {
        "checks": {
            "long_tail": {"status": "ok", "details": {"top_novel": [{"id": "r003", "score": 4.5}]}},
            "judge": {"status": "degraded", "details": {
                "worst": {"polite": [{"id": "r007", "reason": "rude reply"}]}}},
        },
        "label_queue": [{"request_id": "r011", "score": 0.9, "reasons": ["novel", "uncertain"]},
                        {"request_id": "r003", "score": 0.8, "reasons": []}],
    }  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end, "
                "status, results) VALUES (:m, 0, :s, :e, 'done', CAST(:r AS jsonb))"
            ),
            {"m": r.json()["id"], "s": T0, "e": T0 + timedelta(hours=1), "r": json.dumps(results)},
        )
    params = {"model": "shop-bot", **RANGE, "limit": 200}
    flagged = client.get("/v1/events", params={**params, "flagged": "true"}, headers=stored)
    assert sorted(ids(flagged.json())) == ["r003", "r007", "r011"]
    rest = client.get("/v1/events", params={**params, "flagged": "false"}, headers=stored)
    assert len(ids(rest.json())) == 57 and "r003" not in ids(rest.json())

    flags = client.get("/v1/events/shop-bot/r003", headers=stored).json()["flags"]
    assert sorted(f["check"] for f in flags) == ["label_queue", "long_tail"]
    assert all(f["window_start"] == T0.isoformat().replace("+00:00", "Z") for f in flags)
    why = {f["check"]: f["why"] for f in client.get(
        "/v1/events/shop-bot/r007", headers=stored).json()["flags"]}  # fmt: skip
    assert why == {"judge": "judge polite failed it: rude reply"}
    queue = client.get("/v1/events/shop-bot/r011", headers=stored).json()["flags"]
    assert queue[0]["why"] == "picked for a human label (novel, uncertain)"
    # An event in no flagged list, or outside every window, has none.
    assert client.get("/v1/events/shop-bot/r012", headers=stored).json()["flags"] == []
