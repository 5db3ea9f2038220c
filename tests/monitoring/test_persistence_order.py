"""A monitor that starts with a backfill computes its live window first, before the earlier
windows its persistence rule reads; when they finish, the live window is recomputed, so its
verdict is the one an in-order computation gives (and its first result is kept)."""

from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.datasets import chatterbot, health_tweets
from tests.conftest import auth
from tests.jobs.test_monitoring_flow import HOUR, work

# Calm, then drift seen once (persistence wants two of three windows), then drift declared.
IN_ORDER = ["ok", "warning", "drift"]


def seed(client: TestClient, admin: dict[str, str], origin: datetime) -> None:
    """A holdout of health news, then one calm hour and two with a new domain."""
    tweets = health_tweets(without_urls=True).sample(frac=1, random_state=1)
    records = [{"prompt": t, "output": "noted", "prediction": o}
               for t, o in zip(tweets.text[:600], tweets.outlet[:600], strict=True)]  # fmt: skip
    r = client.post("/v1/baselines", json={"model": "news-bot", "name": "b", "records": records},
                    headers=admin)  # fmt: skip
    assert r.status_code == 202, r.text
    r = client.post(
        "/v1/monitors",
        json={"name": "hourly", "model": "news-bot", "baseline_id": r.json()["id"],
              "window": "1h", "delay": "0s", "start_at": origin.isoformat()},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    chat = list(chatterbot().prompt[:300])
    for hour in range(3):
        part = tweets.iloc[600 + 300 * hour : 900 + 300 * hour]
        texts, outlets = list(part.text), list(part.outlet)
        if hour:
            texts[:150], outlets[:150] = chat[150 * (hour - 1) : 150 * hour], ["other"] * 150
        events = [
            {"model": "news-bot", "request_id": f"h{hour}-{i}", "prompt": t, "output": "noted",
             "prediction": o, "ts": (origin + hour * HOUR + i * HOUR / 400).isoformat()}
            for i, (t, o) in enumerate(zip(texts, outlets, strict=True))
        ]  # fmt: skip
        assert client.post("/v1/events", json={"events": events}, headers=admin).status_code == 202


def runs(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(
            text("SELECT window_start, verdict, revision, finished_at FROM monitor_runs "
                 "ORDER BY window_start"), conn,
        )  # fmt: skip


def test_the_live_window_is_recomputed_once_its_history_is_in(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    # Windows that closed in the last three hours, computed in one go: the newest is "live"
    # and claimed first.
    origin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 3 * HOUR
    seed(client, auth(make_key("admin")), origin)
    work(engine, origin + 3 * HOUR)
    got = runs(engine)
    assert list(got.verdict) == IN_ORDER, got
    assert got.revision.iloc[-1] >= 1  # recomputed once the earlier windows were in
    with engine.connect() as conn:
        first = conn.execute(text(
            "SELECT verdict FROM monitor_run_revisions ORDER BY run_id DESC, revision LIMIT 1"
        )).scalar_one()  # fmt: skip
    assert first == "warning"  # what it said with no history, kept


def test_a_backfill_in_order_recomputes_nothing(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    origin = datetime(2026, 11, 1, tzinfo=UTC)  # long closed: history, computed oldest first
    seed(client, auth(make_key("admin")), origin)
    work(engine, origin + 3 * HOUR)
    got = runs(engine)
    assert list(got.verdict) == IN_ORDER, got
    assert list(got.revision) == [0, 0, 0], got
