"""``/v1/monitors``."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

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
from app.monitoring import monitors, runs

router = APIRouter(prefix="/v1/monitors", tags=["monitors"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, response_model=MonitorOut, summary="Create a monitor")
def post_monitor(
    body: MonitorIn, session: SessionDep, state: StateDep, caller: AdminCaller
) -> MonitorOut:
    """Windows are computed by the worker once they close (plus ``delay`` for late events).
    ``start_at`` may lie in the past down to the backfill horizon (a 422 names it)."""
    state.owners.check(session, caller.project_id, body.model)
    monitor = monitors.create_monitor(session, body, max_backfill_days=state.settings.backfill_days)
    return monitor_out(monitor)


@router.get("", response_model=MonitorList, summary="List monitors")
def list_monitors(
    session: SessionDep, caller: ReadCaller, model: OptionalModelQuery = None
) -> MonitorList:
    """All monitors of the key's project, or one model's with ``?model=``."""
    found = monitors.list_monitors(session, project=caller.project_id, model=model)
    return MonitorList(monitors=[monitor_out(m) for m in found])


@router.get("/{monitor_id}", response_model=MonitorOut, summary="One monitor")
def get_monitor(monitor_id: Int4Id, session: SessionDep, caller: ReadCaller) -> MonitorOut:
    """A monitor's configuration."""
    return monitor_out(monitors.get_monitor(session, monitor_id, project=caller.project_id))


@router.patch("/{monitor_id}", response_model=MonitorOut, summary="Change a monitor")
def patch_monitor(
    monitor_id: Int4Id,
    body: MonitorPatch,
    session: SessionDep,
    caller: AdminCaller,
) -> MonitorOut:
    """Change any of baseline, window, delay, min_events, thresholds, judges, enabled."""
    monitor = monitors.get_monitor(session, monitor_id, project=caller.project_id)
    return monitor_out(monitors.update_monitor(session, monitor, body))


@router.delete("/{monitor_id}", status_code=204, summary="Delete a monitor and its runs")
def delete_monitor(monitor_id: Int4Id, session: SessionDep, caller: AdminCaller) -> Response:
    """Deletes the monitor with its runs, reports and metric values."""
    monitors.delete_monitor(
        session, monitors.get_monitor(session, monitor_id, project=caller.project_id)
    )
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
    queued = monitors.request_windows(
        session, monitors.get_monitor(session, monitor_id, project=caller.project_id),
        body.start, body.end, max_pending=state.settings.max_pending_runs,
    )  # fmt: skip
    return RunList(runs=[run_out(r) for r in queued])


@router.get("/{monitor_id}/runs", response_model=RunList, summary="A monitor's runs")
def list_runs(
    monitor_id: Int4Id,
    session: SessionDep,
    caller: ReadCaller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RunList:
    """Newest windows first."""
    monitors.get_monitor(session, monitor_id, project=caller.project_id)
    return RunList(runs=[run_out(r) for r in runs.list_runs(session, monitor_id, limit=limit)])
