"""``/v1/monitors``."""

from fastapi import APIRouter, Response

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
from app.api.params import DEFAULT_PAGE, Int4Id, OptionalModelQuery, PageCursor, PageLimit
from app.db.paging import decode_id_cursor, decode_time_cursor, page_of
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
    session: SessionDep,
    caller: ReadCaller,
    model: OptionalModelQuery = None,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: PageCursor = None,
) -> MonitorList:
    """The monitors of the key's project, or one model's with ``?model=``, oldest first, a
    page at a time (``next_cursor``)."""
    found = monitors.list_monitors(
        session, project=caller.project_id, model=model,
        after=decode_id_cursor(cursor) if cursor else None, limit=limit + 1,
    )  # fmt: skip
    rows, next_cursor = page_of(found, limit, lambda m: (m.id,))
    return MonitorList(monitors=[monitor_out(m) for m in rows], next_cursor=next_cursor)


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
    limit: PageLimit = DEFAULT_PAGE,
    cursor: PageCursor = None,
) -> RunList:
    """Newest windows first, a page at a time (``next_cursor``)."""
    monitors.get_monitor(session, monitor_id, project=caller.project_id)
    before = decode_time_cursor(cursor) if cursor else None
    found = runs.list_runs(session, monitor_id, limit=limit + 1, before=before)
    rows, next_cursor = page_of(found, limit, lambda r: (r.window_start.isoformat(),))
    return RunList(runs=[run_out(r) for r in rows], next_cursor=next_cursor)
