"""Claiming: live windows first, history round-robin, one run or a batch of quick ones; and
starting a claimed run (its lease renewed; its monitor, baseline profile, history, judges'
past summaries)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from app.monitoring.results import (
    JUDGE_SUMMARIES_PATH,
)
from app.monitoring.runs.common import FINISHED_VALUES, PENDING, RUNNING, WORKER_ID


@dataclass(frozen=True)
class Claim:
    """A run this worker owns until its lease ends (identified by its attempt number)."""

    run_id: int
    attempt: int
    monitor_id: int


# Per enabled monitor with a window waiting, two candidates found by index probe
# (ix_monitor_runs_claimable): its newest claimable window if that is the newest closed
# window (lane 0, "live": it ended less than a window plus the delay ago, so the next one has
# not closed yet), and its oldest claimable window (lane 1, history). Live windows go first;
# history goes to the monitor served longest ago, so one monitor's year-long backfill cannot
# starve another's. Only the run picked is locked (SKIP LOCKED, in that order): locking every
# candidate made two workers' claims exclude each other, and a second worker found nothing
# to do while the first claimed.
# A batch of claims (``claim_runs`` with a limit) is the first runs in that same order, at
# most one per monitor: ranking the candidates costs a probe of every monitor with a window
# waiting (about 8 ms with 2,000 waiting, as much as a small window's checks), and a batch
# pays it once.
# Candidates a claim tries to lock, in order, before it gives up (other workers hold them).
CLAIM_TRIES = 20
_CLAIMABLE = """
    r.status IN (:pending, :running) AND (r.status = :pending OR r.lease_until < now())
"""
_CLAIM = text(
    f"""
    WITH candidates AS (
        SELECT m.last_claim_at, live.id AS live_id, live.window_start AS live_start,
               old.id AS old_id, old.window_start AS old_start
        FROM monitors m
        LEFT JOIN LATERAL (
            SELECT r.id, r.window_start FROM monitor_runs r
            WHERE r.monitor_id = m.id AND {_CLAIMABLE}
              AND r.window_end >= now() - make_interval(secs => m.window_seconds + m.delay_seconds)
            ORDER BY r.window_start DESC LIMIT 1
        ) live ON true
        LEFT JOIN LATERAL (
            SELECT r.id, r.window_start FROM monitor_runs r
            WHERE r.monitor_id = m.id AND {_CLAIMABLE}
            ORDER BY r.window_start LIMIT 1
        ) old ON true
        WHERE m.enabled AND (live.id IS NOT NULL OR old.id IS NOT NULL)
          -- Only monitors with a window waiting are probed (the partial index holds just
          -- those), so a claim costs the backlog's monitors, not every monitor's.
          AND m.id IN (SELECT DISTINCT monitor_id FROM monitor_runs
                       WHERE status IN (:pending, :running))
    ), ranked AS MATERIALIZED (
        -- The first few in claim order: the lock below probes these by key (however stale
        -- the planner's statistics of a just-filled queue are).
        SELECT coalesce(live_id, old_id) AS id,
               row_number() OVER (ORDER BY live_id IS NULL, last_claim_at NULLS FIRST,
                                           coalesce(live_start, old_start)) AS rank
        FROM candidates
        ORDER BY rank LIMIT :tries
    ), pick AS (
        SELECT r.id, c.rank FROM ranked c JOIN monitor_runs r ON r.id = c.id
        WHERE {_CLAIMABLE}  -- checked again on the row as locked
        ORDER BY c.rank
        LIMIT :limit
        FOR UPDATE OF r SKIP LOCKED
    ), claimed AS (
        UPDATE monitor_runs r SET status = :running, attempts = r.attempts + 1,
            worker = :worker, started_at = now(),
            lease_until = now() + make_interval(secs => :lease)
        FROM pick WHERE r.id = pick.id
        RETURNING r.id, r.attempts, r.monitor_id, pick.rank
    ), touched AS (
        UPDATE monitors SET last_claim_at = clock_timestamp()
        FROM claimed WHERE monitors.id = claimed.monitor_id
    )
    SELECT id, attempts, monitor_id FROM claimed ORDER BY rank
    """
)


def claim_runs(
    engine: Engine, *, lease_seconds: int, limit: int = 1, worker: str = WORKER_ID
) -> list[Claim]:
    """Take the next ``limit`` runs (live windows first, then history round-robin; at most
    one per monitor), in that order; fewer, or none, when fewer are claimable. Each is leased
    for ``lease_seconds``: a batch's later runs wait their turn on that lease and get their
    full one when they start (``start_claimed``)."""
    with engine.begin() as conn:
        rows = conn.execute(
            _CLAIM,
            {
                "worker": worker,
                "lease": lease_seconds,
                "pending": PENDING,
                "running": RUNNING,
                "limit": limit,
                "tries": CLAIM_TRIES + limit,
            },
        ).all()
    return [Claim(row.id, row.attempts, row.monitor_id) for row in rows]


def claim_run(engine: Engine, *, lease_seconds: int, worker: str = WORKER_ID) -> Claim | None:
    """Take the next run (live windows first, then history round-robin), or None."""
    claims = claim_runs(engine, lease_seconds=lease_seconds, worker=worker)
    return claims[0] if claims else None


def release_claims(engine: Engine, claims: list[Claim]) -> None:
    """Give back claimed runs this worker will not start (it is stopping): pending again, as
    if never claimed, unless the claim was lost meanwhile."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE monitor_runs SET status = :pending, attempts = attempts - 1, "
                "worker = NULL, lease_until = NULL FROM unnest(CAST(:ids AS bigint[]), "
                "CAST(:attempts AS int[])) AS c(id, attempt) "
                "WHERE monitor_runs.id = c.id AND monitor_runs.attempts = c.attempt "
                "AND monitor_runs.status = :running"
            ),
            {"ids": [c.run_id for c in claims], "attempts": [c.attempt for c in claims],
             "pending": PENDING, "running": RUNNING},
        )  # fmt: skip


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


# What computing a run reads of it, its monitor and its baseline (``r``: the run's row).
_WINDOW = """
    SELECT r.id, r.monitor_id, r.baseline_id, r.window_start, r.window_end,
           m.name, m.model, m.model_version, m.min_events, m.thresholds, m.judges, b.profile
    FROM {runs} r JOIN monitors m ON m.id = r.monitor_id JOIN baselines b ON b.id = r.baseline_id
"""
_LOAD = text(_WINDOW.format(runs="monitor_runs") + " WHERE r.id = :id")
# The lease renewed and the row read in one statement.
_START = text(
    "WITH started AS (UPDATE monitor_runs SET lease_until = now() + "
    "make_interval(secs => :lease) WHERE id = :id AND attempts = :a AND status = :running "
    "RETURNING *) " + _WINDOW.format(runs="started")
)


def load_claimed(conn: Connection, run_id: int, *, history: int) -> ClaimedWindow:
    """The run, its monitor and baseline profile, and the last ``history`` finished windows'
    drift signals (oldest first) for the persistence rule."""
    return _claimed(conn, conn.execute(_LOAD, {"id": run_id}).one(), history)


def start_claimed(
    engine: Engine, claim: Claim, *, lease_seconds: int, history: int
) -> ClaimedWindow | None:
    """Start computing a claimed run: its lease renewed to ``lease_seconds`` from now and
    what it needs (as ``load_claimed``); None when the claim was lost meanwhile (a batch's
    run whose turn came after its lease ran out and another worker took it)."""
    with engine.begin() as conn:
        row = conn.execute(
            _START,
            {"id": claim.run_id, "a": claim.attempt, "lease": lease_seconds, "running": RUNNING},
        ).first()
        return None if row is None else _claimed(conn, row, history)


def _claimed(conn: Connection, row: Any, history: int) -> ClaimedWindow:
    if row.profile is None:
        raise ValueError(f"baseline {row.baseline_id} has no profile (not ready or failed)")
    past = conn.execute(
        text(
            "SELECT drift_signal, retraining_recommended FROM monitor_runs "
            "WHERE monitor_id = :m AND baseline_id = :b AND window_start < :s "
            "AND status = ANY(:finished) ORDER BY window_start DESC LIMIT :n"
        ),
        {"m": row.monitor_id, "b": row.baseline_id, "s": row.window_start, "n": history,
         "finished": FINISHED_VALUES},
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
         "s": window.window_start, "n": windows, "finished": FINISHED_VALUES},
    ).scalars().all()  # fmt: skip
    return [r for r in rows if isinstance(r, dict)]
