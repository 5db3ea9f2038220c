"""Monitor and run response schemas (the inputs live with the service: app.monitoring.specs)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.db.models import Monitor, MonitorRun
from app.monitoring.results import RunResults
from app.monitoring.runs import report_url
from app.monitoring.specs import MonitorIn, MonitorPatch, format_duration

__all__ = [
    "MonitorIn", "MonitorList", "MonitorOut", "MonitorPatch", "RunList", "RunOut", "monitor_out",
    "run_out",
]  # fmt: skip


class MonitorOut(BaseModel):
    """A monitor."""

    model_config = ConfigDict(protected_namespaces=())

    id: int
    name: str
    model: str
    model_version: str | None
    baseline_id: int
    window: str
    delay: str
    start_at: datetime
    min_events: int
    thresholds: dict[str, Any]
    judges: list[str] = []
    enabled: bool
    created_at: datetime
    last_error: str | None = None
    last_error_at: datetime | None = None
    error_count: int = 0


class MonitorList(BaseModel):
    """``GET /v1/monitors``."""

    monitors: list[MonitorOut]
    next_cursor: str | None = Field(
        default=None, description="Pass back as `cursor` for the next page (null: the last)."
    )


class RunRequest(BaseModel):
    """``POST /v1/monitors/{id}/runs``: compute every window overlapping [start, end) now."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime


class RunOut(BaseModel):
    """One window's run."""

    id: int
    monitor_id: int
    window_start: datetime
    window_end: datetime
    status: str
    verdict: str | None
    retraining_recommended: bool
    n_events: int | None
    n_labels: int | None
    revision: int
    checks: dict[str, Any] | None = None
    reasons: list[str] | None = None
    timings: dict[str, Any] | None = None
    error: str | None = None
    report_url: str | None = None
    finished_at: datetime | None


class RunList(BaseModel):
    """``GET /v1/monitors/{id}/runs`` and the windows a backfill queued."""

    runs: list[RunOut]
    next_cursor: str | None = Field(
        default=None, description="Pass back as `cursor` for the next page (null: the last)."
    )


def monitor_out(m: Monitor) -> MonitorOut:
    """ORM → API shape (durations as strings)."""
    return MonitorOut(
        id=m.id, name=m.name, model=m.model, model_version=m.model_version,
        baseline_id=m.baseline_id, window=format_duration(m.window_seconds),
        delay=format_duration(m.delay_seconds), start_at=m.start_at, min_events=m.min_events,
        thresholds=m.thresholds, judges=list(m.judges or []), enabled=m.enabled,
        created_at=m.created_at,
        last_error=m.last_error, last_error_at=m.last_error_at, error_count=m.error_count or 0,
    )  # fmt: skip


def run_out(r: MonitorRun, *, full: bool = False) -> RunOut:
    """ORM → API shape; ``full`` adds the per-check results and timings."""
    results = RunResults.load(r.results)
    checks: dict[str, Any] | None = (
        (r.results or {}).get("checks")
        if full
        else {k: {"status": v.status, "summary": v.summary} for k, v in results.checks.items()}
    )
    return RunOut(
        id=r.id, monitor_id=r.monitor_id, window_start=r.window_start,
        window_end=r.window_end, status=r.status, verdict=r.verdict,
        retraining_recommended=r.retraining_recommended, n_events=r.n_events,
        n_labels=r.n_labels, revision=r.revision, checks=checks,
        reasons=results.reasons if r.results is not None else None,
        timings=r.timings if full else None, error=r.error,
        report_url=report_url(r.id, r.status), finished_at=r.finished_at,
    )  # fmt: skip
