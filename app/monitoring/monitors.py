"""Monitors: create and change them within the bounds the scheduler can honour.

Shared by the API and ``driftline monitors apply``. The bounds protect every other monitor:
a window must start no later than one window from now (a far-future start would never run,
and used to crash planning) and no earlier than the backfill horizon (retention, or
``max_backfill_days``); backfill requests are capped by ``runs.queue_windows``.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Baseline, Monitor, MonitorRun
from app.errors import DriftlineError
from app.judges.service import check_monitor_judges
from app.models.ownership import project_or_default
from app.monitoring import runs
from app.monitoring.specs import MonitorIn, MonitorPatch, parse_duration

MIN_WINDOW_SECONDS = 10


def _baseline_for(session: Session, baseline_id: int, model: str) -> Baseline:
    """The model's baseline of that id. One answer whether the id does not exist or is
    another model's: naming that model let a key of one project walk the ids and list
    every other project's models."""
    baseline = session.get(Baseline, baseline_id)
    if baseline is None or baseline.model != model:
        raise DriftlineError(
            422, "invalid_input", f"baseline_id: model {model!r} has no baseline {baseline_id}"
        )
    return baseline


def monitor_named(session: Session, project_id: int, name: str) -> Monitor | None:
    """The project's monitor of that name (names are unique per project)."""
    return session.scalars(
        select(Monitor).where(Monitor.project_id == project_id, Monitor.name == name)
    ).first()


def backfill_horizon(now: datetime, *, max_backfill_days: int) -> datetime:
    """The earliest instant a monitor's windows may start."""
    return now - timedelta(days=max_backfill_days)


def _check_start(start: datetime, window: int, now: datetime, *, max_backfill_days: int) -> None:
    latest = now + timedelta(seconds=window)
    if start > latest:
        raise DriftlineError(
            422, "invalid_input",
            f"start_at: {start.isoformat()} is later than one window from now "
            f"({latest.isoformat()}); windows that far ahead would never close",
        )  # fmt: skip
    earliest = backfill_horizon(now, max_backfill_days=max_backfill_days)
    if start < earliest:
        raise DriftlineError(
            422, "invalid_input",
            f"start_at: {start.isoformat()} is before the backfill horizon "
            f"{earliest.isoformat()} ({max_backfill_days} days: DRIFTLINE_MAX_BACKFILL_DAYS, "
            "or DRIFTLINE_RETENTION_DAYS when shorter)",
        )  # fmt: skip


def create_monitor(session: Session, body: MonitorIn, *, max_backfill_days: int) -> Monitor:
    """Validate and store a new monitor."""
    _baseline_for(session, body.baseline_id, body.model)
    check_monitor_judges(session, body.model, body.judges)
    window = parse_duration(body.window)
    if window < MIN_WINDOW_SECONDS:
        raise DriftlineError(422, "invalid_input", f"window: at least {MIN_WINDOW_SECONDS}s")
    name = body.name or f"{body.model}-{body.window}-{body.baseline_id}"
    project_id = project_or_default(session, body.model)
    if monitor_named(session, project_id, name) is not None:
        raise DriftlineError(409, "conflict", f"a monitor named {name!r} exists")
    now = datetime.now(UTC)
    start = body.start_at or datetime.fromtimestamp((now.timestamp() // window) * window, tz=UTC)
    _check_start(start, window, now, max_backfill_days=max_backfill_days)
    monitor = Monitor(
        name=name, project_id=project_id, model=body.model, model_version=body.model_version,
        baseline_id=body.baseline_id, window_seconds=window,
        delay_seconds=parse_duration(body.delay), start_at=start,
        min_events=body.min_events, thresholds=body.thresholds, judges=list(body.judges),
        enabled=body.enabled,
    )  # fmt: skip
    session.add(monitor)
    session.flush()
    session.commit()
    return monitor


def update_monitor(session: Session, monitor: Monitor, patch: MonitorPatch) -> Monitor:
    """Apply a partial update."""
    if patch.baseline_id is not None:
        _baseline_for(session, patch.baseline_id, monitor.model)
        monitor.baseline_id = patch.baseline_id
    if patch.window is not None:
        window = parse_duration(patch.window)
        if window < MIN_WINDOW_SECONDS:
            raise DriftlineError(422, "invalid_input", f"window: at least {MIN_WINDOW_SECONDS}s")
        monitor.window_seconds = window
    if patch.delay is not None:
        monitor.delay_seconds = parse_duration(patch.delay)
    if patch.min_events is not None:
        monitor.min_events = patch.min_events
    if patch.thresholds is not None:
        monitor.thresholds = patch.thresholds
    if patch.judges is not None:
        check_monitor_judges(session, monitor.model, patch.judges)
        monitor.judges = list(patch.judges)
    if patch.enabled is not None:
        monitor.enabled = patch.enabled
    session.flush()
    session.commit()
    return monitor


def list_monitors(
    session: Session, *, project: int | None, model: str | None, after: int | None = None,
    limit: int | None = None,
) -> list[Monitor]:  # fmt: skip
    """The monitors a caller bound to ``project`` sees (every project's: None), optionally of
    one model, oldest first; a page of ``limit`` after the id ``after`` when given."""
    stmt = select(Monitor).order_by(Monitor.id).limit(limit)
    if after is not None:
        stmt = stmt.where(Monitor.id > after)
    if project is not None:
        stmt = stmt.where(Monitor.project_id == project)
    if model:
        stmt = stmt.where(Monitor.model == model)
    return list(session.scalars(stmt))


def get_monitor(session: Session, monitor_id: int, *, project: int | None) -> Monitor:
    """The monitor of that id the caller may see; 404 otherwise (another project's monitor
    answers like a missing one)."""
    monitor = session.get(Monitor, monitor_id)
    if monitor is None or (project is not None and monitor.project_id != project):
        raise DriftlineError(404, "not_found", f"no monitor {monitor_id}")
    return monitor


def delete_monitor(session: Session, monitor: Monitor) -> None:
    """Delete a monitor with its runs, reports and metric values."""
    session.delete(monitor)
    session.commit()


def request_windows(
    session: Session, monitor: Monitor, start: datetime, end: datetime, *, max_pending: int
) -> list[MonitorRun]:
    """Queue every window of ``monitor`` overlapping [start, end) (a backfill, or a
    recompute of finished ones) and commit; the queued runs."""
    queued = runs.queue_windows(session, monitor, start, end, max_pending=max_pending)
    session.commit()
    return queued
