"""``/healthz`` (the process is up), ``/readyz`` (database reachable and migrated) and
``/metrics`` (Prometheus)."""

import logging

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.api.deps import StateDep, require_scope
from app.api.errors import database_cause
from app.db.migrate import current_revision, head_revision
from app.errors import DriftlineError
from app.metrics.exposition import render

router = APIRouter(tags=["health"])
log = logging.getLogger("driftline.api")


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", responses={503: {"description": "Not ready"}})
async def readyz(state: StateDep) -> JSONResponse:
    """200 when PostgreSQL answers and the schema is at this code's head revision."""
    head = head_revision()

    try:
        # Reading the schema's revision is the round trip: it fails as SELECT 1 would.
        current = await run_in_threadpool(current_revision, state.engine)
    except Exception as exc:  # any failure to reach the DB means "not ready"
        # The cause, never the driver's message: that names the database's host, port and
        # name to anyone who can reach this unauthenticated route. The log has the rest.
        cause = database_cause(exc)
        log.warning("readyz: the database %s: %s", cause, type(exc).__name__)
        return JSONResponse(
            {"ready": False, "database": "unreachable", "reason": f"the database {cause}"},
            status_code=503,
            headers={"Retry-After": str(state.settings.retry_after_seconds)},
        )
    if current != head:
        return JSONResponse(
            {"ready": False, "database": "behind", "current": current, "head": head},
            status_code=503,
            headers={"Retry-After": str(state.settings.retry_after_seconds)},
        )
    return JSONResponse({"ready": True, "database": "ok", "revision": current})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, state: StateDep) -> Response:
    """Process metrics and model health (latest window per monitor). Unauthenticated like
    most Prometheus targets unless ``DRIFTLINE_METRICS_REQUIRE_KEY`` is set: then it needs a
    key with the ``read`` scope (Prometheus: ``authorization: {credentials_file: …}``) and
    no project: the page is fleet-wide, so a project-bound key is refused (403) rather than
    shown other projects' models, monitors and verdicts."""
    if state.settings.metrics_require_key:
        caller = await require_scope("read")(request, state)
        if caller.project_id is not None:
            raise DriftlineError(
                403, "forbidden",
                "/metrics is fleet-wide: it needs a key without a project (an operator's "
                "read key); a project's models are in its status API and UI",
            )  # fmt: skip
    body, content_type = await run_in_threadpool(
        lambda: render(
            state.engine,
            public_url=state.settings.ui_url,
            model_health=state.settings.model_health_exporter == "api",
        )
    )
    return Response(body, media_type=content_type)
