"""Monitor operations shared by the API and ``driftline monitors apply``."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.api.errors import DriftlineError
from app.api.monitors.schemas import (
    MonitorIn,
    MonitorOut,
    MonitorPatch,
    RunOut,
    format_duration,
    parse_duration,
)
from app.db.models import Baseline, Monitor, MonitorRun


def monitor_out(m: Monitor) -> MonitorOut:
    """ORM → API shape (durations as strings)."""
    return MonitorOut(
        id=m.id, name=m.name, model=m.model, model_version=m.model_version,
        baseline_id=m.baseline_id, window=format_duration(m.window_seconds),
        delay=format_duration(m.delay_seconds), start_at=m.start_at, min_events=m.min_events,
        checks=m.checks, enabled=m.enabled, created_at=m.created_at,
    )  # fmt: skip


def run_out(r: MonitorRun, *, full: bool = False) -> RunOut:
    """ORM → API shape; ``full`` adds the per-check results and timings."""
    results: dict[str, Any] = r.results or {}
    return RunOut(
        id=r.id, monitor_id=r.monitor_id, window_start=r.window_start,
        window_end=r.window_end, status=r.status, verdict=r.verdict,
        retraining_recommended=r.retraining_recommended, n_events=r.n_events,
        n_labels=r.n_labels, revision=r.revision,
        checks=results.get("checks") if full else {
            k: {"status": v["status"], "summary": v["summary"]}
            for k, v in (results.get("checks") or {}).items()
        },
        reasons=results.get("reasons"), timings=r.timings if full else None, error=r.error,
        report_url=f"/v1/runs/{r.id}/report" if r.status == "done" else None,
        finished_at=r.finished_at,
    )  # fmt: skip


def _baseline_for(session: Session, baseline_id: int, model: str) -> Baseline:
    baseline = session.get(Baseline, baseline_id)
    if baseline is None:
        raise DriftlineError(422, "invalid_input", f"baseline_id: no baseline {baseline_id}")
    if baseline.model != model:
        raise DriftlineError(
            422, "invalid_input",
            f"baseline_id: baseline {baseline_id} belongs to model {baseline.model!r}, "
            f"not {model!r}",
        )  # fmt: skip
    return baseline


def create_monitor(session: Session, body: MonitorIn) -> Monitor:
    """Validate and store a new monitor."""
    _baseline_for(session, body.baseline_id, body.model)
    window = parse_duration(body.window)
    if window < 10:
        raise DriftlineError(422, "invalid_input", "window: at least 10s")
    name = body.name or f"{body.model}-{body.window}-{body.baseline_id}"
    if session.scalars(select(Monitor.id).where(Monitor.name == name)).first():
        raise DriftlineError(409, "conflict", f"a monitor named {name!r} exists")
    now = datetime.now(UTC)
    start = body.start_at or datetime.fromtimestamp((now.timestamp() // window) * window, tz=UTC)
    monitor = Monitor(
        name=name, model=body.model, model_version=body.model_version,
        baseline_id=body.baseline_id, window_seconds=window,
        delay_seconds=parse_duration(body.delay), start_at=start,
        min_events=body.min_events, checks=body.checks, enabled=body.enabled,
    )  # fmt: skip
    session.add(monitor)
    session.flush()
    return monitor


def update_monitor(session: Session, monitor: Monitor, patch: MonitorPatch) -> Monitor:
    """Apply a partial update."""
    if patch.baseline_id is not None:
        _baseline_for(session, patch.baseline_id, monitor.model)
        monitor.baseline_id = patch.baseline_id
    if patch.window is not None:
        monitor.window_seconds = parse_duration(patch.window)
    if patch.delay is not None:
        monitor.delay_seconds = parse_duration(patch.delay)
    if patch.min_events is not None:
        monitor.min_events = patch.min_events
    if patch.checks is not None:
        monitor.checks = patch.checks
    if patch.enabled is not None:
        monitor.enabled = patch.enabled
    session.flush()
    return monitor


def queue_windows(
    session: Session, monitor: Monitor, start: datetime, end: datetime, *, max_windows: int = 5000
) -> list[MonitorRun]:
    """Queue every window overlapping [start, end); finished ones are recomputed."""
    if end <= start:
        raise DriftlineError(422, "invalid_input", "end: must be after start")
    step = timedelta(seconds=monitor.window_seconds)
    k = (start - monitor.start_at) // step
    first = monitor.start_at + k * step
    count = int((end - first) / step) + (1 if (end - first) % step else 0)
    if count > max_windows:
        raise DriftlineError(
            422, "invalid_input", f"{count} windows; at most {max_windows} per request"
        )
    windows = [
        {
            "m": monitor.id,
            "b": monitor.baseline_id,
            "s": first + i * step,
            "e": first + (i + 1) * step,
        }
        for i in range(count)
    ]
    # Recomputing a finished window keeps its earlier result as a revision.
    session.execute(
        text(
            "INSERT INTO monitor_run_revisions (run_id, revision, verdict, n_labels, results, "
            "finished_at) SELECT id, revision, verdict, n_labels, results, finished_at "
            "FROM monitor_runs WHERE monitor_id = :m AND window_start >= :s AND window_start < :e "
            "AND status IN ('done', 'insufficient_data', 'failed')"
        ),
        {"m": monitor.id, "s": first, "e": end},
    )
    session.execute(
        text(
            "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end) "
            "VALUES (:m, :b, :s, :e) ON CONFLICT (monitor_id, window_start) DO UPDATE SET "
            "status = 'pending', baseline_id = EXCLUDED.baseline_id, "
            "revision = monitor_runs.revision + 1 WHERE monitor_runs.status <> 'running'"
        ),
        windows,
    )
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
