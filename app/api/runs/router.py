"""``/v1/runs``."""

import zlib
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from app.api.deps import ReadCaller, SessionDep, StateDep
from app.api.errors import ERROR_RESPONSES
from app.api.monitors.schemas import RunOut, run_out
from app.api.params import Int8Id
from app.auth.keys import Caller
from app.db.models import MonitorRun
from app.errors import DriftlineError
from app.exports.label_queue import as_csv, as_jsonl, label_queue
from app.monitoring import runs
from app.monitoring.results import RunStatus

router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=ERROR_RESPONSES)

# Reports embed logged prompts. Evidently's page needs its inline scripts, so scripts may
# run — but in a sandbox with an opaque origin (no cookies, no same-origin API calls), with
# no network access at all (default-src 'none'), and the text itself is neutralised too.
REPORT_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)


def visible_run(
    session: SessionDep, state: StateDep, caller: Caller, run_id: int, *, with_report: bool = False
) -> MonitorRun:
    """The run, or 404 when there is none or it belongs to another project's model."""
    run = runs.get_run(session, run_id, with_report=with_report)
    if run is None or not state.owners.sees(
        session, caller.project_id, runs.model_of(session, run)
    ):
        raise DriftlineError(404, "not_found", f"no run {run_id}")
    return run


@router.get("/{run_id}", response_model=RunOut, summary="One run with every check's result")
def get_run(run_id: Int8Id, session: SessionDep, state: StateDep, caller: ReadCaller) -> RunOut:
    """The window's verdict, per-check metrics and details, timings and report link."""
    return run_out(visible_run(session, state, caller, run_id), full=True)


@router.get(
    "/{run_id}/report",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}},
    summary="The run's HTML report (sandboxed)",
)
def get_report(
    run_id: Int8Id, session: SessionDep, state: StateDep, caller: ReadCaller
) -> Response:
    """Evidently's report for the window, served under a strict Content-Security-Policy."""
    return report_response(visible_run(session, state, caller, run_id, with_report=True))


@router.get(
    "/{run_id}/label-queue",
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
    summary="The window's events most worth a human label",
)
def get_label_queue(
    run_id: Int8Id,
    session: SessionDep,
    state: StateDep,
    caller: ReadCaller,
    format: Annotated[Literal["jsonl", "csv"], Query(description="jsonl or csv")] = "jsonl",
) -> Response:
    """Up to ``label_budget`` (a monitor check setting, 50) unlabelled events of the window,
    best first: the model was unsure (``uncertain``), the input is far from the baseline
    (``novel``), or few labels cover its predicted class (``under_covered``). Text is
    scrubbed of personal data; events labelled since drop out. Fill in ``label`` and send
    the rows back through ``POST /v1/feedback`` (or ``driftline labels import``)."""
    return label_queue_response(session, visible_run(session, state, caller, run_id), format)


def label_queue_response(session: Session, run: MonitorRun, format: str) -> Response:
    """A run's label queue as a download (also the UI window page's link)."""
    rows = label_queue(session, run, runs.model_of(session, run))
    name = f"label-queue-run-{run.id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        return Response(as_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(b"".join(as_jsonl(rows)), media_type="application/x-ndjson", headers=headers)


def report_response(run: MonitorRun) -> Response:
    """A run's stored report (loaded ``with_report``) as a sandboxed page; 409 while the
    window is being computed or its report rendered, 404 for a window without one (also the
    UI's report frame)."""
    if run.report is None and run.report_due_at is not None:
        raise DriftlineError(
            409, "report_pending",
            f"run {run.id}'s report is being rendered: the worker renders reports after the "
            "verdicts, when no window is waiting; try again shortly",
        )  # fmt: skip
    if run.report is None:
        raise DriftlineError(
            409 if run.status in (RunStatus.PENDING, RunStatus.RUNNING) else 404,
            "no_report",
            f"run {run.id} is {run.status} with verdict {run.verdict}; reports exist for "
            "finished windows with data (only flagged ones when the worker runs with "
            "DRIFTLINE_WINDOW_REPORTS=flagged)",
        )
    return Response(
        zlib.decompress(run.report),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": REPORT_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, max-age=300",
        },
    )
