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
                    "INSERT INTO feedback (model, request_id, label, ts, received_at) "
                    "VALUES ('m', :rid, 'x', :ts, :ts)"
                ),
                {"rid": f"r{i}", "ts": ts},
            )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO baselines (model, name, source, embedder, record_count) "
                "VALUES ('m', 'b', 'upload', 'tfidf', 1)"
            )
        )
        conn.execute(
            text(
                "WITH p AS (INSERT INTO projects (name) VALUES ('default') "
                "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id) "
                "INSERT INTO monitors (name, project_id, model, baseline_id, window_seconds, "
                "start_at) SELECT 'mon', (SELECT id FROM p), "
                "'m', id, 3600, :t FROM baselines"
            ),
            {"t": now - timedelta(days=400)},
        )
        for age_days in (1, 100):
            start = now - timedelta(days=age_days)
            conn.execute(
                text(
                    "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, "
                    "window_end, status, verdict, report) SELECT m.id, m.baseline_id, :s, :e, "
                    "'done', 'ok', 'x'::bytea FROM monitors m"
                ),
                {"s": start, "e": start + timedelta(hours=1)},
            )
    assert apply_retention(engine, days=30, now=now) == {
        "partitions": 0, "events": 2, "feedback": 2, "reports": 1
    }  # fmt: skip
    with engine.connect() as conn:
        kept = conn.execute(
            text("SELECT verdict, report IS NOT NULL FROM monitor_runs ORDER BY window_start")
        ).all()
    assert [tuple(k) for k in kept] == [("ok", False), ("ok", True)]  # verdicts stay
    with engine.connect() as conn:
        left = sorted(conn.execute(text("SELECT request_id FROM events")).scalars())
    assert left == ["r0", "r1"]


def test_feedback_retention_goes_by_server_time_not_the_clients_ts(engine: Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO feedback (model, request_id, label, ts, received_at) VALUES "
                "('m', 'old-ts-new-arrival', 'x', '2001-01-01', now()), "
                "('m', 'new-ts-old-arrival', 'x', now(), now() - interval '40 days')"
            )
        )
    assert apply_retention(engine, days=30, now=now)["feedback"] == 1
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT request_id FROM feedback")).scalars().all()
    assert kept == ["old-ts-new-arrival"]
