"""Retention deletes old events and feedback, and nothing newer."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from app.jobs.retention import apply_retention


def test_retention_removes_only_rows_older_than_the_cutoff(engine: Engine) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for i, age_days in enumerate([1, 29, 31, 400]):
            ts = now - timedelta(days=age_days)
            conn.execute(
                text(
                    "INSERT INTO events (model, request_id, ts, prompt, output) "
                    "VALUES ('m', :rid, :ts, 'p', 'o')"
                ),
                {"rid": f"r{i}", "ts": ts},
            )
            conn.execute(
                text(
                    "INSERT INTO feedback (model, request_id, label, ts) "
                    "VALUES ('m', :rid, 'x', :ts)"
                ),
                {"rid": f"r{i}", "ts": ts},
            )
    assert apply_retention(engine, days=30, now=now) == {"events": 2, "feedback": 2}
    with engine.connect() as conn:
        left = sorted(conn.execute(text("SELECT request_id FROM events")).scalars())
    assert left == ["r0", "r1"]
