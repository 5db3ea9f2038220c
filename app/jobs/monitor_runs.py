"""Monitor windows: plan them, claim one at a time, compute, store — exactly once.

Coordination is PostgreSQL's: ``(monitor_id, window_start)`` is unique, so planning is
idempotent however many workers plan; a run is claimed with ``FOR UPDATE SKIP LOCKED`` and a
lease, so two workers never take the same window; a worker that dies leaves its lease to
expire and the window is claimed again; a result is stored only by the claim that still owns
the run (same attempt number), so a worker that lost its lease cannot overwrite anything.
"""

import logging
import os
import socket
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from app.config import get_settings
from app.engine import descriptors as desc
from app.engine.report import render_report
from app.engine.results import CheckResult, Status
from app.engine.thresholds import Thresholds
from app.engine.window import WindowResult, evaluate_window, flatten_metadata
from app.jobs.featurise import FEATURE_COLUMNS
from app.jobs.profiles import load_profile

log = logging.getLogger("driftline.runs")

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
MAX_PLANNED_PER_TICK = 500


def plan_due_windows(engine: Engine, *, now: datetime | None = None) -> int:
    """Create a pending run for every closed window of every enabled monitor; idempotent."""
    now = now or datetime.now(UTC)
    created = 0
    with engine.begin() as conn:
        monitors = conn.execute(
            text(
                "SELECT m.id, m.baseline_id, m.window_seconds, m.start_at, m.delay_seconds, "
                "(SELECT max(window_start) FROM monitor_runs r WHERE r.monitor_id = m.id) AS last "
                "FROM monitors m JOIN baselines b ON b.id = m.baseline_id "
                "WHERE m.enabled AND b.status = 'ready'"
            )
        ).all()
        for m in monitors:
            step = timedelta(seconds=m.window_seconds)
            start = m.last + step if m.last else m.start_at
            windows = []
            while start + step + timedelta(seconds=m.delay_seconds) <= now:
                windows.append({"m": m.id, "b": m.baseline_id, "s": start, "e": start + step})
                start += step
                if len(windows) >= MAX_PLANNED_PER_TICK:
                    break
            if windows:
                created += conn.execute(
                    text(
                        "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, "
                        "window_end) VALUES (:m, :b, :s, :e) "
                        "ON CONFLICT (monitor_id, window_start) DO NOTHING"
                    ),
                    windows,
                ).rowcount
    return created


@dataclass(frozen=True)
class Claim:
    """A run this worker owns until ``lease_until`` (identified by its attempt number)."""

    run_id: int
    attempt: int


def claim_run(engine: Engine, *, lease_seconds: int, worker: str = WORKER_ID) -> Claim | None:
    """Take the oldest pending run (or one whose lease expired), or None."""
    with engine.begin() as conn:
        row = conn.execute(
            text(
                """
                UPDATE monitor_runs SET status = 'running', attempts = attempts + 1,
                    worker = :worker, started_at = now(),
                    lease_until = now() + make_interval(secs => :lease)
                WHERE id = (
                    SELECT r.id FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id
                    WHERE m.enabled AND (r.status = 'pending'
                        OR (r.status = 'running' AND r.lease_until < now()))
                    ORDER BY r.window_start, r.id
                    LIMIT 1
                    FOR UPDATE OF r SKIP LOCKED
                )
                RETURNING id, attempts
                """
            ),
            {"worker": worker, "lease": lease_seconds},
        ).first()
    return Claim(row.id, row.attempts) if row else None


_WINDOW_FILTER = """
    e.model = :model AND e.ts >= :start AND e.ts < :end
    AND (CAST(:version AS text) IS NULL OR e.model_version = :version)
"""


def _window_frame(
    conn: Connection, monitor: Any, start: datetime, end: datetime, *, cap: int
) -> tuple[pd.DataFrame, int]:
    """The window's events (a deterministic sample above ``cap``) and their exact count."""
    params: dict[str, Any] = {
        "model": monitor.model, "version": monitor.model_version, "start": start, "end": end,
    }  # fmt: skip
    total = int(
        conn.execute(
            text(f"SELECT count(*) FROM events e WHERE {_WINDOW_FILTER}"), params
        ).scalar_one()
    )
    # Sampling by a hash of request_id keeps the same events on a recompute (late labels).
    permille = 1000 if total <= cap else max(1, cap * 1000 // total)
    features = ", ".join(f"ef.{c}" for c in FEATURE_COLUMNS)
    frame = pd.read_sql(
        text(
            f"""
            SELECT e.id, e.request_id, e.prompt, e.output, e.prediction, e.perplexity,
                   e.finish_reason, e.embedding, e.metadata, f.label,
                   coalesce(f.score, CASE f.thumbs WHEN 1 THEN 1.0 WHEN -1 THEN 0.0 END) AS score,
                   ef.event_id IS NOT NULL AS has_features, {features}
            FROM events e
            LEFT JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
            LEFT JOIN event_features ef ON ef.event_id = e.id
            WHERE {_WINDOW_FILTER}
              AND (:permille >= 1000 OR abs(hashtext(e.request_id)) % 1000 < :permille)
            ORDER BY e.id
            """
        ),
        conn,
        params={**params, "permille": permille},
    )
    return frame, total


def _descriptors(frame: pd.DataFrame, vocab: frozenset[str]) -> pd.DataFrame:
    """Stored features where the featuriser has been, computed here for the rest."""
    d = frame[list(FEATURE_COLUMNS)].copy()
    missing = ~frame["has_features"].astype(bool)
    if missing.any():
        fresh = desc.compute_descriptors(frame[missing])
        d.loc[missing, list(FEATURE_COLUMNS)] = fresh[list(FEATURE_COLUMNS)]
    for flag in desc.FLAGS:
        d[flag] = d[flag].astype(bool)
    d["language"] = d["language"].fillna("").astype(str)
    d["prompt_oov_share"] = desc.oov_share(frame["prompt"], vocab)
    d["output_oov_share"] = desc.oov_share(frame["output"], vocab)
    return d


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _metric_json(m: Any) -> dict[str, Any]:
    status = m.status.value if m.status else None
    row = {"name": m.name, "feature": m.feature, "value": m.value, "threshold": m.threshold}
    return _jsonable({**row, "status": status})  # type: ignore[no-any-return]


def serialise_checks(checks: dict[str, CheckResult]) -> dict[str, Any]:
    """Check results as JSON for ``monitor_runs.results``."""
    return {
        name: {
            "status": c.status.value,
            "summary": c.summary,
            "metrics": [_metric_json(m) for m in c.metrics],
            "details": _jsonable(c.details),
        }
        for name, c in checks.items()
    }


def _history(conn: Connection, run: Any, n: int) -> tuple[tuple[bool, ...], bool]:
    rows = conn.execute(
        text(
            "SELECT drift_signal, retraining_recommended FROM monitor_runs "
            "WHERE monitor_id = :m AND baseline_id = :b AND window_start < :s "
            "AND status IN ('done', 'insufficient_data') ORDER BY window_start DESC LIMIT :n"
        ),
        {"m": run.monitor_id, "b": run.baseline_id, "s": run.window_start, "n": n},
    ).all()
    history = tuple(bool(r.drift_signal) for r in reversed(rows))
    return history, bool(rows and rows[0].retraining_recommended)


def execute_run(engine: Engine, claim: Claim) -> str:
    """Compute a claimed run and store its result; returns the stored status."""
    started = time.perf_counter()
    with engine.connect() as conn:
        run = conn.execute(
            text("SELECT * FROM monitor_runs WHERE id = :id"), {"id": claim.run_id}
        ).one()
        monitor = conn.execute(
            text("SELECT * FROM monitors WHERE id = :id"), {"id": run.monitor_id}
        ).one()
        blob = conn.execute(
            text("SELECT profile FROM baselines WHERE id = :id"), {"id": run.baseline_id}
        ).scalar_one()
        thresholds = Thresholds(min_events=monitor.min_events).with_overrides(monitor.checks)
        history, previously = _history(conn, run, thresholds.persistence_n - 1)
        frame, total = _window_frame(
            conn, monitor, run.window_start, run.window_end, cap=get_settings().window_sample_cap
        )
    timings: dict[str, float] = {"load": round(time.perf_counter() - started, 3)}
    if total > len(frame):
        log.info("run %s: %d events, computed on a sample of %d", claim.run_id, total, len(frame))
    profile = load_profile(blob)
    meta_keys = [c.removeprefix("meta_") for c in profile.meta_numeric + profile.meta_categorical]
    if meta_keys and len(frame):
        frame = pd.concat([frame, flatten_metadata(frame["metadata"], meta_keys)], axis=1)
        for col in profile.meta_numeric:  # keep the baseline's types whatever clients send now
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    result: WindowResult = evaluate_window(
        profile,
        frame,
        thresholds=thresholds,
        drift_history=history,
        previously_recommended=previously,
        descriptors=_descriptors(frame, profile.vocab) if len(frame) else None,
    )
    timings.update(result.timings)
    report = None
    if result.status is not Status.INSUFFICIENT_DATA:
        t = time.perf_counter()
        try:
            html = render_report(
                profile, frame, result, title=f"monitor {monitor.name}", thresholds=thresholds
            )
            report = zlib.compress(html.encode(), 6)
        except Exception:  # the verdict stands without its report; the log says why
            log.exception("run %s: the report failed to render", claim.run_id)
        timings["report"] = round(time.perf_counter() - t, 3)
    timings["total"] = round(time.perf_counter() - started, 3)
    status = "insufficient_data" if result.status is Status.INSUFFICIENT_DATA else "done"
    n_labels = int(frame["label"].notna().sum()) if len(frame) else 0
    results = {
        "checks": serialise_checks(result.checks),
        "reasons": result.reasons,
        "sampled_events": len(frame) if total > len(frame) else None,
    }
    with engine.begin() as conn:
        owned = conn.execute(
            text(
                """
                UPDATE monitor_runs SET status = :status, verdict = :verdict,
                    drift_signal = :drift, retraining_recommended = :retrain,
                    n_events = :n, n_labels = :labels, results = CAST(:results AS jsonb),
                    report = :report, timings = CAST(:timings AS jsonb), error = NULL,
                    lease_until = NULL, finished_at = now()
                WHERE id = :id AND attempts = :attempt AND status = 'running'
                """
            ),
            {
                "status": status, "verdict": result.status.value, "drift": result.drift_signal,
                "retrain": result.retraining_recommended, "n": total,
                "labels": n_labels, "results": _dumps(results), "report": report,
                "timings": _dumps(timings), "id": claim.run_id, "attempt": claim.attempt,
            },
        ).rowcount  # fmt: skip
        if not owned:
            log.warning("run %s: lease lost before the result was stored; discarded", claim.run_id)
            return "lost"
        conn.execute(text("DELETE FROM metric_values WHERE run_id = :id"), {"id": claim.run_id})
        values = [
            {"run": claim.run_id, "check": c.check, **_metric_json(m)}
            for c in result.checks.values()
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
    log.info(
        "run %s (monitor %s, %s): %s, %d events, %.1fs",
        claim.run_id, monitor.name, run.window_start.isoformat(), result.status.value,
        result.n_events, timings["total"],
    )  # fmt: skip
    return status


def _dumps(value: Any) -> str:
    import orjson

    return orjson.dumps(_jsonable(value), option=orjson.OPT_SERIALIZE_NUMPY).decode()


def fail_run(engine: Engine, claim: Claim, error: str) -> None:
    """Record a failure (the run is not retried automatically: the error needs a look)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE monitor_runs SET status = 'failed', error = :e, lease_until = NULL, "
                "finished_at = now() WHERE id = :id AND attempts = :a AND status = 'running'"
            ),
            {"e": error[:4000], "id": claim.run_id, "a": claim.attempt},
        )


def run_pending(engine: Engine, *, lease_seconds: int, max_runs: int = 20) -> int:
    """Claim and compute runs until none is due (or ``max_runs``); returns how many ran."""
    ran = 0
    for _ in range(max_runs):
        claim = claim_run(engine, lease_seconds=lease_seconds)
        if claim is None:
            break
        try:
            execute_run(engine, claim)
        except Exception as exc:  # one bad window must not stop the worker
            log.exception("run %s failed", claim.run_id)
            fail_run(engine, claim, f"{type(exc).__name__}: {exc}")
        ran += 1
    return ran


def requeue_late_labels(engine: Engine, *, lookback_days: int = 7) -> int:
    """Re-queue finished runs whose window got feedback after they ran (history is kept)."""
    with engine.begin() as conn:
        rows = (
            conn.execute(
                text(
                    """
                SELECT r.id FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id
                WHERE r.status = 'done' AND r.finished_at > now() - make_interval(days => :d)
                  AND EXISTS (
                    SELECT 1 FROM feedback f
                    JOIN events e ON e.model = f.model AND e.request_id = f.request_id
                    WHERE f.model = m.model AND f.received_at > r.finished_at
                      AND e.ts >= r.window_start AND e.ts < r.window_end
                  )
                FOR UPDATE OF r SKIP LOCKED
                """
                ),
                {"d": lookback_days},
            )
            .scalars()
            .all()
        )
        for run_id in rows:
            conn.execute(
                text(
                    "INSERT INTO monitor_run_revisions (run_id, revision, verdict, n_labels, "
                    "results, finished_at) SELECT id, revision, verdict, n_labels, results, "
                    "finished_at FROM monitor_runs WHERE id = :id"
                ),
                {"id": run_id},
            )
            conn.execute(
                text(
                    "UPDATE monitor_runs SET status = 'pending', revision = revision + 1 "
                    "WHERE id = :id"
                ),
                {"id": run_id},
            )
    if rows:
        log.info("late labels: re-queued %d run(s)", len(rows))
    return len(rows)
