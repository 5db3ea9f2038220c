"""Storing: a computed window's result, exactly once by the claim that owns it; failures,
deferrals, lease renewals; and late labels putting finished windows back in the queue."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, text

from app.engine.results import CheckResult
from app.monitoring.results import (
    RunResults,
    RunStatus,
)
from app.monitoring.runs.claim import Claim
from app.monitoring.runs.common import (
    DONE,
    FAILED,
    PENDING,
    REQUEUE_CHOSEN,
    RUNNING,
    log,
    record_monitor_error,
)
from app.monitoring.runs.rollups import add_to_rollups, refresh_rollups


@dataclass(frozen=True)
class RunOutcome:
    """A computed window, ready to store."""

    status: RunStatus
    verdict: str
    drift_signal: bool
    retraining_recommended: bool
    n_events: int
    n_labels: int
    checks: dict[str, CheckResult]
    results: RunResults
    # Whether the window gets an HTML report: marked due here, rendered later (runs/reports).
    wants_report: bool
    timings: dict[str, float]


_VALUE_KEYS = ("check", "name", "feature", "value", "threshold", "status")
_INSERT_VALUES = text(
    'INSERT INTO metric_values (run_id, "check", metric, feature, value, threshold, status) '
    "SELECT :run, * FROM unnest(CAST(:check AS text[]), CAST(:name AS text[]), "
    "CAST(:feature AS text[]), CAST(:value AS float8[]), CAST(:threshold AS float8[]), "
    "CAST(:status AS text[]))"
)


def _dumps(value: Any) -> str:
    """JSON of what is JSON already but for numpy scalars and non-finite floats (null)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


# Later windows whose verdict was decided without this one: finished before it, within the
# persistence rule's reach (:start, :until]. Only a window's first computation re-queues (a
# recompute of a revised window would otherwise ripple through a year of history), and each
# such window at most ``history`` later ones. The range is bound from the stored row, so the
# later windows are one range of the (monitor_id, window_start) key.
_REQUEUE_LATER = text(
    f"""
    WITH chosen AS (
        SELECT r.id FROM monitor_runs r
        WHERE r.monitor_id = :monitor AND r.window_start > :start
          AND r.window_start <= :until AND r.baseline_id = :baseline
          AND r.status = :done AND r.finished_at < now()
    ), {REQUEUE_CHOSEN}
    SELECT count(*) FROM requeued
    """
)


def store_result(engine: Engine, claim: Claim, outcome: RunOutcome, *, history: int = 0) -> bool:
    """Store a computed window and its metric values if this claim still owns the run;
    False when the lease was lost (the result is discarded).

    ``history`` is how many earlier windows the verdict's persistence rule reads. A later
    window computed before this one (the live window goes first when a monitor starts with a
    backfill) decided without it: it is re-queued, its first result kept as a revision.
    """
    with engine.begin() as conn:
        owned = conn.execute(
            text(
                """
                UPDATE monitor_runs SET status = :status, verdict = :verdict,
                    drift_signal = :drift, retraining_recommended = :retrain,
                    n_events = :n, n_labels = :labels, results = CAST(:results AS jsonb),
                    report = NULL, report_due_at = CASE WHEN :wants_report THEN now() END,
                    report_attempts = 0,
                    timings = CAST(:timings AS jsonb), error = NULL,
                    lease_until = NULL, finished_at = now()
                WHERE id = :id AND attempts = :attempt AND status = :running
                RETURNING monitor_id, baseline_id, window_start, window_end, revision
                """
            ),
            {
                "status": outcome.status.value, "verdict": outcome.verdict,
                "drift": outcome.drift_signal, "retrain": outcome.retraining_recommended,
                "n": outcome.n_events, "labels": outcome.n_labels,
                "results": _dumps(outcome.results.dump()), "wants_report": outcome.wants_report,
                "timings": _dumps(outcome.timings), "id": claim.run_id,
                "attempt": claim.attempt, "running": RUNNING,
            },
        ).first()  # fmt: skip
        if owned is None:
            return False
        conn.execute(text("DELETE FROM metric_values WHERE run_id = :id"), {"id": claim.run_id})
        values = [{"check": name, **row} for name, check in outcome.results.checks.items()
                  for row in check.metrics]  # fmt: skip
        if values:
            # One statement of arrays: a window stores dozens of numbers, and a row-per-row
            # insert was parsed, planned and sent dozens of times.
            conn.execute(
                _INSERT_VALUES,
                {"run": claim.run_id, **{k: [v[k] for v in values] for k in _VALUE_KEYS}},
            )
        if owned.revision == 0:  # its first computation: never counted in a summary yet
            add_to_rollups(
                conn, owned.monitor_id, owned.window_start, verdict=outcome.verdict,
                n_events=outcome.n_events, n_labels=outcome.n_labels,
                values=((v["check"], v["name"], v["feature"], v["value"], v["threshold"])
                        for v in values),
            )  # fmt: skip
        else:
            refresh_rollups(conn, owned.monitor_id, owned.window_start)
        if history and owned.revision == 0:
            length = owned.window_end - owned.window_start
            requeued = conn.execute(
                _REQUEUE_LATER,
                {"monitor": owned.monitor_id, "baseline": owned.baseline_id,
                 "start": owned.window_start, "until": owned.window_start + history * length,
                 "done": DONE, "pending": PENDING},
            ).scalar_one()  # fmt: skip
            if requeued:
                log.info("run %s: re-queued %d later window(s) decided without it",
                         claim.run_id, requeued)  # fmt: skip
    return True


def fail_run(engine: Engine, claim: Claim, error: str) -> None:
    """Record a failure on the run and its monitor (not retried automatically: the error
    needs a look; a backfill request recomputes it)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE monitor_runs SET status = :failed, error = :e, lease_until = NULL, "
                "finished_at = now() WHERE id = :id AND attempts = :a AND status = :running"
            ),
            {"e": error[:4000], "id": claim.run_id, "a": claim.attempt, "failed": FAILED,
             "running": RUNNING},
        )  # fmt: skip
    record_monitor_error(engine, claim.monitor_id, f"run {claim.run_id}: {error}")


def renew_lease(engine: Engine, claim: Claim, lease_seconds: int) -> bool:
    """Extend a claimed run's lease (long work, e.g. a judge's calls, is still going); False
    when the claim was lost."""
    with engine.begin() as conn:
        return bool(
            conn.execute(
                text(
                    "UPDATE monitor_runs SET lease_until = now() + make_interval(secs => :lease) "
                    "WHERE id = :id AND attempts = :a AND status = :running"
                ),
                {"lease": lease_seconds, "id": claim.run_id, "a": claim.attempt,
                 "running": RUNNING},
            ).rowcount
        )  # fmt: skip


def defer_run(engine: Engine, claim: Claim, delay_seconds: int, reason: str) -> None:
    """Give a claimed run back to be computed again after ``delay_seconds`` (a judge did not
    answer): it stays running with its lease moved, so no worker claims it sooner."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE monitor_runs SET lease_until = now() + make_interval(secs => :delay), "
                "error = :e WHERE id = :id AND attempts = :a AND status = :running"
            ),
            {"delay": delay_seconds, "e": f"deferred: {reason}"[:4000], "id": claim.run_id,
             "a": claim.attempt, "running": RUNNING},
        )  # fmt: skip


# ---- late labels ---------------------------------------------------------------------------

_LATE_LABELS = "late_labels"
# Feedback is read up to this long ago, so a transaction that committed a little late (its
# received_at is its start time) is not skipped by a watermark that already moved past it.
SETTLE_SECONDS = 5.0

# New feedback since the watermark, mapped through event_keys.ts to each monitor's window that
# finished before the label arrived. Bounded per tick by :batch rows of feedback.
_LATE_RUNS = text(
    f"""
    WITH fresh AS (
        SELECT model, request_id, received_at FROM feedback
        WHERE received_at > :since AND received_at <= :until
        ORDER BY received_at LIMIT :batch
    ), chosen AS (
        SELECT DISTINCT r.id FROM fresh f
        JOIN event_keys k ON k.model = f.model AND k.request_id = f.request_id
        JOIN monitors m ON m.model = f.model
        JOIN monitor_runs r ON r.monitor_id = m.id
            AND r.window_start <= k.ts AND r.window_end > k.ts
            AND r.window_start > k.ts - make_interval(secs => m.window_seconds)
        WHERE r.status = :done AND r.finished_at < f.received_at
          AND r.finished_at > now() - make_interval(days => :days)
    ), {REQUEUE_CHOSEN}
    SELECT (SELECT count(*) FROM requeued) AS runs,
           (SELECT count(*) FROM fresh) AS labels,
           (SELECT max(received_at) FROM fresh) AS last
    """
)


def requeue_late_labels(
    engine: Engine,
    *,
    lookback_days: int = 7,
    batch: int = 5_000,
    settle_seconds: float = SETTLE_SECONDS,
) -> int:
    """Re-queue finished runs whose window got feedback after they ran (history is kept).

    Driven by a watermark on ``feedback.received_at``: each tick maps only feedback received
    since the last one (at most ``batch`` rows; the rest next tick) to its windows.
    """
    until = datetime.now(UTC) - timedelta(seconds=settle_seconds)
    requeued = 0
    with engine.begin() as conn:
        since = conn.execute(
            text("SELECT watermark FROM job_watermarks WHERE name = :n FOR UPDATE"),
            {"n": _LATE_LABELS},
        ).scalar()
        if since is None:
            # First run: labels already received are covered by the runs computed after them.
            since = until
        else:
            row = conn.execute(
                _LATE_RUNS,
                {"since": since, "until": until, "batch": batch, "days": lookback_days,
                 "done": DONE, "pending": PENDING},
            ).one()  # fmt: skip
            requeued = int(row.runs)
            since = row.last if row.labels >= batch else until
        conn.execute(
            text(
                "INSERT INTO job_watermarks (name, watermark) VALUES (:n, :w) "
                "ON CONFLICT (name) DO UPDATE SET watermark = EXCLUDED.watermark"
            ),
            {"n": _LATE_LABELS, "w": since},
        )
    if requeued:
        log.info("late labels: re-queued %d run(s)", requeued)
    return requeued
