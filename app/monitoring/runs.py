"""Monitor windows: plan them, claim one at a time, store results — exactly once — and read them.

Coordination is PostgreSQL's: ``(monitor_id, window_start)`` is unique, so planning is
idempotent however many workers plan; a run is claimed with ``FOR UPDATE SKIP LOCKED`` and a
lease, so two workers never take the same window; a worker that dies leaves its lease to
expire and the window is claimed again; a result is stored only by the claim that still owns
the run (same attempt number), so a worker that lost its lease cannot overwrite anything.

Monitors do not trust each other: each is planned in its own transaction and an error is
recorded on that monitor alone; claims take every monitor's live window before anybody's
backfill history, and backfills go round-robin across monitors; a monitor's pending windows
are capped.
"""

import logging
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session, undefer

from app.db.models import Monitor, MonitorRun
from app.engine.results import CheckResult
from app.errors import DriftlineError
from app.monitoring.results import (
    FINISHED,
    JUDGE_SUMMARIES_PATH,
    TOP_NOVEL_PATH,
    RunResults,
    RunStatus,
    jsonable,
    metric_json,
)

log = logging.getLogger("driftline.runs")

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# Windows one monitor's backfill adds per tick (its live window is planned besides).
MAX_PLANNED_PER_TICK = 500

_PENDING, _RUNNING = RunStatus.PENDING.value, RunStatus.RUNNING.value
_DONE, _INSUFFICIENT, _FAILED = (
    RunStatus.DONE.value, RunStatus.INSUFFICIENT_DATA.value, RunStatus.FAILED.value,
)  # fmt: skip
_FINISHED = [s.value for s in FINISHED]

# One revision snapshot: a finished run's result is kept before it is recomputed.
_SAVE_REVISIONS = """
    INSERT INTO monitor_run_revisions (run_id, revision, verdict, n_labels, results, finished_at)
    SELECT id, revision, verdict, n_labels, results, finished_at FROM monitor_runs
"""


# CTE steps putting the done runs a query selected (its CTE ``chosen``) back in the queue,
# each result kept as a revision first; ``requeued`` holds their ids (:pending, :done bound).
_REQUEUE_CHOSEN = f"""saved AS (
        {_SAVE_REVISIONS} WHERE id IN (SELECT id FROM chosen)
    ), requeued AS (
        UPDATE monitor_runs SET status = :pending, revision = revision + 1
        WHERE id IN (SELECT id FROM chosen) AND status = :done
        RETURNING id
    )"""


# ---- monitor errors ------------------------------------------------------------------------


def record_monitor_error(engine: Engine, monitor_id: int, error: str) -> None:
    """Show an error on its monitor (``last_error``) and count it; never raises further."""
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE monitors SET last_error = :e, last_error_at = now(), "
                    "error_count = error_count + 1 WHERE id = :id"
                ),
                {"e": error[:4000], "id": monitor_id},
            )
    except Exception:
        log.exception("monitor %s: could not record its error", monitor_id)


# ---- planning ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plannable:
    id: int
    baseline_id: int
    window_seconds: int
    delay_seconds: int
    start_at: datetime
    planned_until: datetime | None


def due_windows(
    m: _Plannable, now: datetime, *, budget: int
) -> tuple[list[datetime], datetime | None]:
    """Window starts to plan now — the newest closed window, then up to ``budget`` of the
    backfill from the cursor — and the new cursor (None: no window has closed yet)."""
    step = timedelta(seconds=m.window_seconds)
    closed = (now - timedelta(seconds=m.delay_seconds) - m.start_at) // step  # whole windows
    if closed < 1:
        return [], None
    live = m.start_at + (closed - 1) * step
    starts = [live]
    cursor = m.planned_until or m.start_at
    while cursor < live and budget > 0:
        starts.append(cursor)
        cursor += step
        budget -= 1
    # Once the backfill reaches the live window, everything up to it is planned.
    return starts, max(cursor, live + step) if cursor >= live else cursor


def plan_due_windows(engine: Engine, *, max_pending: int, now: datetime | None = None) -> int:
    """Create a pending run for every due window of every enabled monitor (each monitor in
    its own transaction; one that fails is recorded on it and the others go on)."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        monitors = [
            _Plannable(**r._mapping)
            for r in conn.execute(
                text(
                    "SELECT m.id, m.baseline_id, m.window_seconds, m.delay_seconds, m.start_at, "
                    "m.planned_until FROM monitors m JOIN baselines b ON b.id = m.baseline_id "
                    "WHERE m.enabled AND b.status = 'ready' ORDER BY m.id"
                )
            )
        ]
    created = 0
    for m in monitors:
        try:
            created += _plan_monitor(engine, m, now, max_pending=max_pending)
        except Exception as exc:
            log.exception("monitor %s: planning failed", m.id)
            record_monitor_error(engine, m.id, f"planning: {type(exc).__name__}: {exc}")
    return created


def _plan_monitor(engine: Engine, m: _Plannable, now: datetime, *, max_pending: int) -> int:
    with engine.begin() as conn:
        pending = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM monitor_runs WHERE monitor_id = :m "
                "AND status = :pending LIMIT :cap) p"
            ),
            {"m": m.id, "pending": _PENDING, "cap": max_pending},
        ).scalar_one()
        budget = min(MAX_PLANNED_PER_TICK, max(0, max_pending - pending - 1))
        starts, cursor = due_windows(m, now, budget=budget)
        if not starts:
            return 0
        step = timedelta(seconds=m.window_seconds)
        created = conn.execute(
            text(
                "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end) "
                "VALUES (:m, :b, :s, :e) ON CONFLICT (monitor_id, window_start) DO NOTHING"
            ),
            [{"m": m.id, "b": m.baseline_id, "s": s, "e": s + step} for s in starts],
        ).rowcount
        if cursor is not None and cursor != m.planned_until:
            conn.execute(
                text("UPDATE monitors SET planned_until = :c WHERE id = :m"),
                {"c": cursor, "m": m.id},
            )
    return int(created)


def queue_windows(
    session: Session, monitor: Monitor, start: datetime, end: datetime, *, max_pending: int
) -> list[MonitorRun]:
    """Queue every window overlapping [start, end) (a backfill); finished ones are
    recomputed, their earlier results kept as revisions. A 422 names the limit when the
    monitor would have more than ``max_pending`` windows waiting."""
    if end <= start:
        raise DriftlineError(422, "invalid_input", "end: must be after start")
    step = timedelta(seconds=monitor.window_seconds)
    k = (start - monitor.start_at) // step
    first = monitor.start_at + k * step
    count = int((end - first) / step) + (1 if (end - first) % step else 0)
    waiting = session.execute(
        text(
            "SELECT count(*) FROM monitor_runs WHERE monitor_id = :m AND status = :pending "
            "AND NOT (window_start >= :s AND window_start < :e)"
        ),
        {"m": monitor.id, "pending": _PENDING, "s": first, "e": end},
    ).scalar_one()
    if count + waiting > max_pending:
        raise DriftlineError(
            422, "too_many_windows",
            f"{count} windows requested and {waiting} already pending; a monitor may have at "
            f"most {max_pending} pending (DRIFTLINE_MAX_PENDING_RUNS): request a shorter range",
            {"requested": count, "pending": waiting, "limit": max_pending},
        )  # fmt: skip
    session.execute(
        text(
            f"{_SAVE_REVISIONS} WHERE monitor_id = :m AND window_start >= :s "
            "AND window_start < :e AND status IN (:done, :insufficient, :failed)"
        ),
        {"m": monitor.id, "s": first, "e": end, "done": _DONE, "insufficient": _INSUFFICIENT,
         "failed": _FAILED},
    )  # fmt: skip
    session.execute(
        text(
            "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end) "
            "VALUES (:m, :b, :s, :e) ON CONFLICT (monitor_id, window_start) DO UPDATE SET "
            "status = :pending, baseline_id = EXCLUDED.baseline_id, "
            "revision = monitor_runs.revision + 1 WHERE monitor_runs.status <> :running"
        ),
        [
            {"m": monitor.id, "b": monitor.baseline_id, "s": first + i * step,
             "e": first + (i + 1) * step, "pending": _PENDING, "running": _RUNNING}
            for i in range(count)
        ],
    )  # fmt: skip
    session.flush()
    return list(
        session.scalars(
            select(MonitorRun)
            .where(
                MonitorRun.monitor_id == monitor.id,
                MonitorRun.window_start >= first,
                MonitorRun.window_start < end,
            )
            .order_by(MonitorRun.window_start)
        )
    )


# ---- claiming ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A run this worker owns until its lease ends (identified by its attempt number)."""

    run_id: int
    attempt: int
    monitor_id: int


# Per enabled monitor, two candidates found by index probe (ix_monitor_runs_claimable): its
# newest claimable window if that is the newest closed window (lane 0, "live": it ended less
# than a window plus the delay ago, so the next one has not closed yet), and its oldest
# claimable window (lane 1, history). Live windows go first; history goes to the monitor
# served longest ago, so one monitor's year-long backfill cannot starve another's.
_CLAIMABLE_OF_M = """
    r.monitor_id = m.id AND r.status IN (:pending, :running)
    AND (r.status = :pending OR r.lease_until < now())
"""
_CLAIM = text(
    f"""
    WITH candidates AS (
        SELECT m.last_claim_at, live.id AS live_id, live.window_start AS live_start,
               old.id AS old_id, old.window_start AS old_start
        FROM monitors m
        LEFT JOIN LATERAL (
            SELECT r.id, r.window_start FROM monitor_runs r
            WHERE {_CLAIMABLE_OF_M}
              AND r.window_end >= now() - make_interval(secs => m.window_seconds + m.delay_seconds)
            ORDER BY r.window_start DESC LIMIT 1 FOR UPDATE OF r SKIP LOCKED
        ) live ON true
        LEFT JOIN LATERAL (
            SELECT r.id, r.window_start FROM monitor_runs r
            WHERE {_CLAIMABLE_OF_M}
            ORDER BY r.window_start LIMIT 1 FOR UPDATE OF r SKIP LOCKED
        ) old ON true
        WHERE m.enabled AND (live.id IS NOT NULL OR old.id IS NOT NULL)
    ), pick AS (
        SELECT coalesce(live_id, old_id) AS id FROM candidates
        ORDER BY live_id IS NULL, last_claim_at NULLS FIRST,
                 coalesce(live_start, old_start)
        LIMIT 1
    ), claimed AS (
        UPDATE monitor_runs r SET status = :running, attempts = r.attempts + 1,
            worker = :worker, started_at = now(),
            lease_until = now() + make_interval(secs => :lease)
        FROM pick WHERE r.id = pick.id
        RETURNING r.id, r.attempts, r.monitor_id
    ), touched AS (
        UPDATE monitors SET last_claim_at = clock_timestamp()
        FROM claimed WHERE monitors.id = claimed.monitor_id
    )
    SELECT id, attempts, monitor_id FROM claimed
    """
)


def claim_run(engine: Engine, *, lease_seconds: int, worker: str = WORKER_ID) -> Claim | None:
    """Take the next run (live windows first, then history round-robin), or None."""
    with engine.begin() as conn:
        row = conn.execute(
            _CLAIM,
            {"worker": worker, "lease": lease_seconds, "pending": _PENDING, "running": _RUNNING},
        ).first()
    return Claim(row.id, row.attempts, row.monitor_id) if row else None


# ---- what a claimed run needs --------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedWindow:
    """Everything the worker needs to compute a claimed run."""

    run_id: int
    window_start: datetime
    window_end: datetime
    monitor_id: int
    baseline_id: int
    monitor_name: str
    model: str
    model_version: str | None
    min_events: int
    thresholds: dict[str, Any]
    profile_blob: bytes
    drift_history: tuple[bool, ...]
    previously_recommended: bool
    judges: tuple[str, ...] = ()


def load_claimed(conn: Connection, claim: Claim, *, history: int) -> ClaimedWindow:
    """The run, its monitor and baseline profile, and the last ``history`` finished windows'
    drift signals (oldest first) for the persistence rule."""
    row = conn.execute(
        text(
            "SELECT r.id, r.monitor_id, r.baseline_id, r.window_start, r.window_end, "
            "m.name, m.model, m.model_version, m.min_events, m.thresholds, m.judges, b.profile "
            "FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id "
            "JOIN baselines b ON b.id = r.baseline_id WHERE r.id = :id"
        ),
        {"id": claim.run_id},
    ).one()
    if row.profile is None:
        raise ValueError(f"baseline {row.baseline_id} has no profile (not ready or failed)")
    past = conn.execute(
        text(
            "SELECT drift_signal, retraining_recommended FROM monitor_runs "
            "WHERE monitor_id = :m AND baseline_id = :b AND window_start < :s "
            "AND status = ANY(:finished) ORDER BY window_start DESC LIMIT :n"
        ),
        {"m": row.monitor_id, "b": row.baseline_id, "s": row.window_start, "n": history,
         "finished": _FINISHED},
    ).all()  # fmt: skip
    return ClaimedWindow(
        run_id=row.id, window_start=row.window_start, window_end=row.window_end,
        monitor_id=row.monitor_id, baseline_id=row.baseline_id, monitor_name=row.name,
        model=row.model, model_version=row.model_version,
        min_events=row.min_events, thresholds=row.thresholds or {}, profile_blob=row.profile,
        drift_history=tuple(bool(r.drift_signal) for r in reversed(past)),
        previously_recommended=bool(past and past[0].retraining_recommended),
        judges=tuple(row.judges or ()),
    )  # fmt: skip


def recent_judge_summaries(
    conn: Connection, window: ClaimedWindow, judge: str, *, windows: int
) -> list[dict[str, Any]]:
    """One judge's stored summaries of the monitor's previous finished windows on the same
    baseline, newest first (what the judge check pools with this window)."""
    rows = conn.execute(
        text(
            f"SELECT results #> '{JUDGE_SUMMARIES_PATH}' -> :judge AS summary "
            "FROM monitor_runs WHERE monitor_id = :m AND baseline_id = :b "
            "AND window_start < :s AND status = ANY(:finished) "
            "ORDER BY window_start DESC LIMIT :n"
        ),
        {"judge": judge, "m": window.monitor_id, "b": window.baseline_id,
         "s": window.window_start, "n": windows, "finished": _FINISHED},
    ).scalars().all()  # fmt: skip
    return [r for r in rows if isinstance(r, dict)]


# ---- storing -------------------------------------------------------------------------------


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
    report: bytes | None
    timings: dict[str, float]


def _dumps(value: Any) -> str:
    return orjson.dumps(jsonable(value), option=orjson.OPT_SERIALIZE_NUMPY).decode()


# Later windows whose verdict was decided without this one: finished before it, within the
# persistence rule's reach. Only a window's first computation re-queues (a recompute of a
# revised window would otherwise ripple through a year of history), and each such window at
# most ``history`` later ones.
_REQUEUE_LATER = text(
    f"""
    WITH this AS (
        SELECT r.monitor_id, r.baseline_id, r.window_start, m.window_seconds
        FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id
        WHERE r.id = :id AND r.revision = 0
    ), chosen AS (
        SELECT r.id FROM monitor_runs r, this
        WHERE r.monitor_id = this.monitor_id AND r.baseline_id = this.baseline_id
          AND r.window_start > this.window_start
          AND r.window_start <= this.window_start
              + make_interval(secs => this.window_seconds * :history)
          AND r.status = :done AND r.finished_at < now()
    ), {_REQUEUE_CHOSEN}
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
                    report = :report, timings = CAST(:timings AS jsonb), error = NULL,
                    lease_until = NULL, finished_at = now()
                WHERE id = :id AND attempts = :attempt AND status = :running
                """
            ),
            {
                "status": outcome.status.value, "verdict": outcome.verdict,
                "drift": outcome.drift_signal, "retrain": outcome.retraining_recommended,
                "n": outcome.n_events, "labels": outcome.n_labels,
                "results": _dumps(outcome.results.dump()), "report": outcome.report,
                "timings": _dumps(outcome.timings), "id": claim.run_id,
                "attempt": claim.attempt, "running": _RUNNING,
            },
        ).rowcount  # fmt: skip
        if not owned:
            return False
        conn.execute(text("DELETE FROM metric_values WHERE run_id = :id"), {"id": claim.run_id})
        values = [
            {"run": claim.run_id, "check": c.check, **metric_json(m)}
            for c in outcome.checks.values()
            for m in c.metrics
        ]
        if values:
            conn.execute(
                text(
                    'INSERT INTO metric_values (run_id, "check", metric, feature, value, '
                    "threshold, status) VALUES (:run, :check, :name, :feature, :value, "
                    ":threshold, :status)"
                ),
                values,
            )
        if history:
            requeued = conn.execute(
                _REQUEUE_LATER,
                {"id": claim.run_id, "history": history, "done": _DONE, "pending": _PENDING},
            ).scalar_one()
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
            {"e": error[:4000], "id": claim.run_id, "a": claim.attempt, "failed": _FAILED,
             "running": _RUNNING},
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
                 "running": _RUNNING},
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
             "a": claim.attempt, "running": _RUNNING},
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
    ), {_REQUEUE_CHOSEN}
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
                 "done": _DONE, "pending": _PENDING},
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


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatestRun:
    """A monitor's run that speaks for it now (see ``latest_per_monitor``)."""

    run_id: int
    monitor_id: int
    model: str
    monitor: str
    status: RunStatus
    verdict: str | None
    retraining_recommended: bool
    n_events: int
    window_start: datetime
    window_end: datetime
    # Each check's status and the sample size only (``get_run`` has the whole result).
    results: RunResults
    n_labels: int = 0

    @property
    def report_url(self) -> str | None:
        """The report's path; only windows with data have one."""
        return report_url(self.run_id, self.status)


def report_url(run_id: int, status: str) -> str | None:
    """``/v1/runs/{id}/report`` for a finished window with data, else None."""
    return f"/v1/runs/{run_id}/report" if status == _DONE else None


# Per monitor: its newest window with data, else its newest insufficient one. A quiet window
# after a drift must not hide the drift; with no data at all, insufficient_data says so.
_LATEST = """
    SELECT coalesce(d.id, i.id) AS id FROM monitors m
    LEFT JOIN LATERAL (SELECT id FROM monitor_runs WHERE monitor_id = m.id AND status = :done
                       ORDER BY window_start DESC LIMIT 1) d ON true
    LEFT JOIN LATERAL (SELECT id FROM monitor_runs WHERE monitor_id = m.id
                       AND status = :insufficient AND d.id IS NULL
                       ORDER BY window_start DESC LIMIT 1) i ON true
    WHERE (CAST(:model AS text) IS NULL OR m.model = :model)
      AND coalesce(d.id, i.id) IS NOT NULL
"""


_LATEST_RUNS = text(
    f"WITH latest AS ({_LATEST}) "
    "SELECT r.id, r.monitor_id, m.model, m.name, r.status, r.verdict, "
    "r.retraining_recommended, r.n_events, r.window_start, r.window_end, r.n_labels, "
    # Only each check's status and the sample size: every scrape reads every monitor's latest
    # run, and the details (per-class F1, drifted columns, novel ids...) are most of a result.
    "jsonb_build_object('checks', (SELECT jsonb_object_agg(c.key, "
    "jsonb_build_object('status', c.value->'status')) FROM jsonb_each(r.results->'checks') c), "
    "'sampled_events', r.results->'sampled_events') AS results "
    "FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id "
    "WHERE r.id IN (SELECT id FROM latest) ORDER BY r.monitor_id"
)


def latest_per_monitor(conn: Connection | Session, *, model: str | None = None) -> list[LatestRun]:
    """The run that speaks for each monitor now (of one model, or all): its newest window
    with data, else its newest window without enough."""
    rows = conn.execute(
        _LATEST_RUNS,
        {"model": model, "done": _DONE, "insufficient": _INSUFFICIENT},
    ).all()
    return [
        LatestRun(
            run_id=r.id,
            monitor_id=r.monitor_id,
            model=r.model,
            monitor=r.name,
            status=RunStatus(r.status),
            verdict=r.verdict,
            retraining_recommended=bool(r.retraining_recommended),
            n_events=r.n_events or 0,
            window_start=r.window_start,
            window_end=r.window_end,
            results=RunResults.load(r.results),
            n_labels=r.n_labels or 0,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class RunBrief:
    """A run without its results: enough to draw it in a strip or a time axis."""

    run_id: int
    monitor_id: int
    window_start: datetime
    window_end: datetime
    status: RunStatus
    verdict: str | None
    retraining_recommended: bool
    n_events: int | None
    n_labels: int | None


_BRIEF_COLUMNS = (
    "r.id, r.monitor_id, r.window_start, r.window_end, r.status, r.verdict, "
    "r.retraining_recommended, r.n_events, r.n_labels"
)


def _briefs(rows: Iterable[Any]) -> list[RunBrief]:
    return [
        RunBrief(r[0], r[1], r[2], r[3], RunStatus(r[4]), r[5], bool(r[6]), r[7], r[8])
        for r in rows
    ]


def recent_runs(
    conn: Connection | Session, monitor_ids: Sequence[int], *, per_monitor: int
) -> dict[int, list[RunBrief]]:
    """Each monitor's newest ``per_monitor`` windows (oldest first), one index range scan per
    monitor on ``(monitor_id, window_start)`` however long its history."""
    if not monitor_ids:
        return {}
    rows = conn.execute(
        text(
            f"SELECT {_BRIEF_COLUMNS} FROM unnest(CAST(:ids AS int[])) AS m(id) "
            "CROSS JOIN LATERAL (SELECT * FROM monitor_runs WHERE monitor_id = m.id "
            "ORDER BY window_start DESC LIMIT :n) r ORDER BY r.monitor_id, r.window_start"
        ),
        {"ids": list(monitor_ids), "n": per_monitor},
    )
    out: dict[int, list[RunBrief]] = {}
    for brief in _briefs(rows):
        out.setdefault(brief.monitor_id, []).append(brief)
    return out


def neighbour_runs(session: Session, run: MonitorRun) -> tuple[int | None, int | None]:
    """The ids of the monitor's windows just before and just after ``run``'s."""
    row = session.execute(
        text(
            "SELECT (SELECT id FROM monitor_runs WHERE monitor_id = :m AND window_start < :s "
            "        ORDER BY window_start DESC LIMIT 1), "
            "       (SELECT id FROM monitor_runs WHERE monitor_id = :m AND window_start > :s "
            "        ORDER BY window_start LIMIT 1)"
        ),
        {"m": run.monitor_id, "s": run.window_start},
    ).one()
    return row[0], row[1]


@dataclass(frozen=True)
class StoredMetric:
    """One row of ``metric_values``."""

    run_id: int
    check: str
    metric: str
    feature: str | None
    value: float
    threshold: float | None
    status: str | None


def metric_values(
    conn: Connection | Session,
    run_ids: Sequence[int],
    *,
    check: str | None = None,
    metric: str | None = None,
) -> list[StoredMetric]:
    """The numbers (non-null) the given runs produced; only one check's or metric's when
    given."""
    if not run_ids:
        return []
    rows = conn.execute(
        text(
            'SELECT run_id, "check", metric, feature, value, threshold, status '
            "FROM metric_values WHERE run_id = ANY(:ids) AND value IS NOT NULL "
            'AND (CAST(:check AS text) IS NULL OR "check" = :check) '
            "AND (CAST(:metric AS text) IS NULL OR metric = :metric)"
        ),
        {"ids": list(run_ids), "check": check, "metric": metric},
    )
    return [StoredMetric(*r) for r in rows]


@dataclass(frozen=True)
class MetricSeries:
    """One window-level number of one check across runs (parallel lists)."""

    check: str
    metric: str
    run_ids: list[int]
    values: list[float]
    thresholds: list[float | None]


def metric_series(conn: Connection | Session, run_ids: Sequence[int]) -> list[MetricSeries]:
    """Each window-level number (no per-column or per-class values) of the given runs as one
    series per check and metric: aggregated in PostgreSQL from a covering partial index
    (``ix_metric_values_window_level``), so a page charting thousands of windows reads a few
    dozen rows, not one per number, and never the per-column values beside them."""
    if not run_ids:
        return []
    rows = conn.execute(
        text(
            'SELECT "check", metric, array_agg(run_id), array_agg(value), array_agg(threshold) '
            "FROM metric_values WHERE run_id = ANY(:ids) AND value IS NOT NULL "
            'AND feature IS NULL GROUP BY "check", metric'
        ),
        {"ids": list(run_ids)},
    )
    return [MetricSeries(*r) for r in rows]


@dataclass(frozen=True)
class MonitorActivity:
    """An enabled monitor's liveness figures and error record."""

    model: str
    monitor: str
    window_seconds: int
    delay_seconds: int
    created: float
    last_finished: float | None
    error_count: int


def monitor_activity(conn: Connection) -> list[MonitorActivity]:
    """Every enabled monitor with the last time any window of it finished (with data or
    without: the worker was alive) and its error count."""
    rows = conn.execute(
        text(
            "SELECT m.model, m.name, m.window_seconds, m.delay_seconds, "
            "extract(epoch FROM m.created_at), "
            "(SELECT extract(epoch FROM max(r.finished_at)) FROM monitor_runs r "
            " WHERE r.monitor_id = m.id AND r.status = ANY(:finished)), m.error_count "
            "FROM monitors m WHERE m.enabled ORDER BY m.id"
        ),
        {"finished": _FINISHED},
    )
    return [
        MonitorActivity(
            r[0], r[1], r[2], r[3], float(r[4]), float(r[5]) if r[5] else None, int(r[6])
        )
        for r in rows
    ]


def queue_counts(conn: Connection) -> dict[RunStatus, int]:
    """How many runs wait (pending) and are being computed (running)."""
    row = conn.execute(
        text(
            "SELECT count(*) FILTER (WHERE status = :pending), "
            "count(*) FILTER (WHERE status = :running) FROM monitor_runs "
            "WHERE status IN (:pending, :running)"
        ),
        {"pending": _PENDING, "running": _RUNNING},
    ).one()
    return {RunStatus.PENDING: int(row[0]), RunStatus.RUNNING: int(row[1])}


def get_run(session: Session, run_id: int, *, with_report: bool = False) -> MonitorRun | None:
    """One run (its HTML report loaded only when asked)."""
    stmt = select(MonitorRun).where(MonitorRun.id == run_id)
    if with_report:
        stmt = stmt.options(undefer(MonitorRun.report))
    return session.scalars(stmt).first()


def model_of(session: Session, run: MonitorRun) -> str:
    """The model a run's monitor watches."""
    return str(session.scalars(select(Monitor.model).where(Monitor.id == run.monitor_id)).one())


def list_runs(session: Session, monitor_id: int, *, limit: int) -> list[MonitorRun]:
    """A monitor's runs, newest window first."""
    return list(
        session.scalars(
            select(MonitorRun)
            .where(MonitorRun.monitor_id == monitor_id)
            .order_by(MonitorRun.window_start.desc())
            .limit(limit)
        )
    )


def drifted_windows(
    session: Session, *, model: str, since: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """``(start, end)`` of the model's windows judged ``drift`` overlapping [since, until)."""
    rows = session.execute(
        text(
            "SELECT DISTINCT r.window_start, r.window_end FROM monitor_runs r "
            "JOIN monitors m ON m.id = r.monitor_id WHERE m.model = :model "
            "AND r.verdict = 'drift' AND r.window_start < :until AND r.window_end > :since "
            "ORDER BY r.window_start"
        ),
        {"model": model, "since": since, "until": until},
    )
    return [(r[0], r[1]) for r in rows]


def novel_request_ids(
    session: Session, *, model: str, since: datetime, until: datetime
) -> list[str]:
    """Request ids the long-tail check found most novel in the model's windows overlapping
    [since, until) (only that part of each result is read)."""
    rows = session.execute(
        text(
            "SELECT DISTINCT n->>'id' FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id "
            f"CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.results #> '{TOP_NOVEL_PATH}', "
            "'[]'::jsonb)) AS n WHERE m.model = :model AND r.window_start < :until "
            "AND r.window_end > :since AND n->>'id' IS NOT NULL"
        ),
        {"model": model, "since": since, "until": until},
    )
    return [r[0] for r in rows]


def drop_old_reports(engine: Engine, cutoff: datetime) -> int:
    """Forget the HTML reports of windows that ended before ``cutoff`` (verdicts and metric
    values stay); returns how many."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "UPDATE monitor_runs SET report = NULL "
                    "WHERE window_end < :cutoff AND report IS NOT NULL"
                ),
                {"cutoff": cutoff},
            ).rowcount
        )
