"""``/v1/monitors``."""

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from app.api.deps import AdminCaller, ReadCaller, SessionDep, StateDep
from app.api.errors import ERROR_RESPONSES
from app.api.monitors.schemas import (
    MonitorIn,
    MonitorList,
    MonitorOut,
    MonitorPatch,
    RunList,
    RunRequest,
    monitor_out,
    run_out,
)
from app.api.params import Int4Id, OptionalModelQuery
from app.db.models import Monitor
from app.errors import DriftlineError
from app.monitoring import runs
from app.monitoring.monitors import create_monitor, update_monitor
from app.projects import visible_models
from app.security import Caller

router = APIRouter(prefix="/v1/monitors", tags=["monitors"], responses=ERROR_RESPONSES)


def _get(session: SessionDep, state: StateDep, monitor_id: int, caller: Caller) -> Monitor:
    monitor = session.get(Monitor, monitor_id)
    if monitor is None or not state.owners.sees(session, caller.project_id, monitor.model):
        raise DriftlineError(404, "not_found", f"no monitor {monitor_id}")
    return monitor


@router.post("", status_code=201, response_model=MonitorOut, summary="Create a monitor")
def post_monitor(
    body: MonitorIn, session: SessionDep, state: StateDep, caller: AdminCaller
) -> MonitorOut:
    """Windows are computed by the worker once they close (plus ``delay`` for late events).
    ``start_at`` may lie in the past down to the backfill horizon (a 422 names it)."""
    state.owners.check(session, caller.project_id, body.model)
    monitor = create_monitor(session, body, max_backfill_days=state.settings.backfill_days)
    session.commit()
    return monitor_out(monitor)


@router.get("", response_model=MonitorList, summary="List monitors")
def list_monitors(
    session: SessionDep, caller: ReadCaller, model: OptionalModelQuery = None
) -> MonitorList:
    """All monitors of the key's project, or one model's with ``?model=``."""
    stmt = select(Monitor).order_by(Monitor.id)
    if (mine := visible_models(caller.project_id)) is not None:
        stmt = stmt.where(Monitor.model.in_(mine))
    if model:
        stmt = stmt.where(Monitor.model == model)
    return MonitorList(monitors=[monitor_out(m) for m in session.scalars(stmt)])


@router.get("/{monitor_id}", response_model=MonitorOut, summary="One monitor")
def get_monitor(
    monitor_id: Int4Id, session: SessionDep, state: StateDep, caller: ReadCaller
) -> MonitorOut:
    """A monitor's configuration."""
    return monitor_out(_get(session, state, monitor_id, caller))


@router.patch("/{monitor_id}", response_model=MonitorOut, summary="Change a monitor")
def patch_monitor(
    monitor_id: Int4Id,
    body: MonitorPatch,
    session: SessionDep,
    state: StateDep,
    caller: AdminCaller,
) -> MonitorOut:
    """Change any of baseline, window, delay, min_events, checks, enabled."""
    monitor = update_monitor(session, _get(session, state, monitor_id, caller), body)
    session.commit()
    return monitor_out(monitor)


@router.delete("/{monitor_id}", status_code=204, summary="Delete a monitor and its runs")
def delete_monitor(
    monitor_id: Int4Id, session: SessionDep, state: StateDep, caller: AdminCaller
) -> Response:
    """Deletes the monitor with its runs, reports and metric values."""
    session.delete(_get(session, state, monitor_id, caller))
    session.commit()
    return Response(status_code=204)


@router.post(
    "/{monitor_id}/runs", status_code=202, response_model=RunList,
    summary="Compute a window or a range now (backfill)",
)  # fmt: skip
def request_runs(
    monitor_id: Int4Id, body: RunRequest, session: SessionDep, state: StateDep, caller: AdminCaller
) -> RunList:
    """Queues every window overlapping [start, end) for the worker, recomputing finished ones
    (their earlier results are kept as revisions). Poll ``GET …/runs`` for progress. A 422
    names the limit when the monitor would have more than ``DRIFTLINE_MAX_PENDING_RUNS``
    windows waiting."""
    queued = runs.queue_windows(
        session, _get(session, state, monitor_id, caller), body.start, body.end,
        max_pending=state.settings.max_pending_runs,
    )  # fmt: skip
    session.commit()
    return RunList(runs=[run_out(r) for r in queued])


@router.get("/{monitor_id}/runs", response_model=RunList, summary="A monitor's runs")
def list_runs(
    monitor_id: Int4Id,
    session: SessionDep,
    state: StateDep,
    caller: ReadCaller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RunList:
    """Newest windows first."""
    _get(session, state, monitor_id, caller)
    return RunList(runs=[run_out(r) for r in runs.list_runs(session, monitor_id, limit=limit)])
