"""``/v1/monitors``."""

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from app.api.deps import AdminCaller, ReadCaller, SessionDep
from app.api.errors import ERROR_RESPONSES, DriftlineError
from app.api.monitors.schemas import (
    MonitorIn,
    MonitorList,
    MonitorOut,
    MonitorPatch,
    RunList,
    RunRequest,
)
from app.api.monitors.service import (
    create_monitor,
    monitor_out,
    queue_windows,
    run_out,
    update_monitor,
)
from app.api.params import Int4Id, OptionalModelQuery
from app.db.models import Monitor, MonitorRun

router = APIRouter(prefix="/v1/monitors", tags=["monitors"], responses=ERROR_RESPONSES)


def _get(session: SessionDep, monitor_id: int) -> Monitor:
    monitor = session.get(Monitor, monitor_id)
    if monitor is None:
        raise DriftlineError(404, "not_found", f"no monitor {monitor_id}")
    return monitor


@router.post("", status_code=201, response_model=MonitorOut, summary="Create a monitor")
def post_monitor(body: MonitorIn, session: SessionDep, _: AdminCaller) -> MonitorOut:
    """Windows are computed by the worker once they close (plus ``delay`` for late events)."""
    monitor = create_monitor(session, body)
    session.commit()
    return monitor_out(monitor)


@router.get("", response_model=MonitorList, summary="List monitors")
def list_monitors(
    session: SessionDep, _: ReadCaller, model: OptionalModelQuery = None
) -> MonitorList:
    """All monitors, or one model's with ``?model=``."""
    stmt = select(Monitor).order_by(Monitor.id)
    if model:
        stmt = stmt.where(Monitor.model == model)
    return MonitorList(monitors=[monitor_out(m) for m in session.scalars(stmt)])


@router.get("/{monitor_id}", response_model=MonitorOut, summary="One monitor")
def get_monitor(monitor_id: Int4Id, session: SessionDep, _: ReadCaller) -> MonitorOut:
    """A monitor's configuration."""
    return monitor_out(_get(session, monitor_id))


@router.patch("/{monitor_id}", response_model=MonitorOut, summary="Change a monitor")
def patch_monitor(
    monitor_id: Int4Id, body: MonitorPatch, session: SessionDep, _: AdminCaller
) -> MonitorOut:
    """Change any of baseline, window, delay, min_events, checks, enabled."""
    monitor = update_monitor(session, _get(session, monitor_id), body)
    session.commit()
    return monitor_out(monitor)


@router.delete("/{monitor_id}", status_code=204, summary="Delete a monitor and its runs")
def delete_monitor(monitor_id: Int4Id, session: SessionDep, _: AdminCaller) -> Response:
    """Deletes the monitor with its runs, reports and metric values."""
    session.delete(_get(session, monitor_id))
    session.commit()
    return Response(status_code=204)


@router.post(
    "/{monitor_id}/runs", status_code=202, response_model=RunList,
    summary="Compute a window or a range now (backfill)",
)  # fmt: skip
def request_runs(
    monitor_id: Int4Id, body: RunRequest, session: SessionDep, _: AdminCaller
) -> RunList:
    """Queues every window overlapping [start, end) for the worker, recomputing finished ones
    (their earlier results are kept as revisions). Poll ``GET …/runs`` for progress."""
    runs = queue_windows(session, _get(session, monitor_id), body.start, body.end)
    session.commit()
    return RunList(runs=[run_out(r) for r in runs])


@router.get("/{monitor_id}/runs", response_model=RunList, summary="A monitor's runs")
def list_runs(
    monitor_id: Int4Id,
    session: SessionDep,
    _: ReadCaller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RunList:
    """Newest windows first."""
    _get(session, monitor_id)
    runs = session.scalars(
        select(MonitorRun)
        .where(MonitorRun.monitor_id == monitor_id)
        .order_by(MonitorRun.window_start.desc())
        .limit(limit)
    )
    return RunList(runs=[run_out(r) for r in runs])
