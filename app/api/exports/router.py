"""``GET /v1/exports/retraining``."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.api.deps import AppState, ReadCaller, StateDep
from app.api.errors import ERROR_RESPONSES
from app.api.params import ModelQuery
from app.auth.keys import Caller
from app.errors import DriftlineError
from app.exports.retraining import REASONS, retraining_examples

router = APIRouter(prefix="/v1/exports", tags=["exports"], responses=ERROR_RESPONSES)


@router.get(
    "/retraining",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
    summary="Production examples worth retraining on (JSONL, PII-scrubbed)",
)
def export_retraining(
    state: StateDep,
    caller: ReadCaller,
    model: ModelQuery,
    since: Annotated[datetime, Query()],
    until: Annotated[datetime | None, Query()] = None,
    reasons: Annotated[str, Query(description=f"comma-separated: {', '.join(REASONS)}")] = ",".join(
        REASONS
    ),
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> StreamingResponse:
    """One JSON object per line: the example, scrubbed, with the reasons it was chosen
    (``novel``, ``drifted``, ``low_score``, ``wrong_label``, ``judge_failed``). Streams: any
    size is fine."""
    chosen = tuple(r.strip() for r in reasons.split(",") if r.strip())
    unknown = sorted(set(chosen) - set(REASONS))
    if unknown or not chosen:
        raise DriftlineError(
            422, "invalid_input", f"reasons: unknown {unknown}; choose from {list(REASONS)}"
        )
    return retraining_response(
        state, caller, model=model, since=since, until=until or datetime.now(UTC),
        reasons=chosen, limit=limit,
    )  # fmt: skip


def retraining_response(
    state: AppState,
    caller: Caller,
    *,
    model: str,
    since: datetime,
    until: datetime,
    reasons: tuple[str, ...] = REASONS,
    limit: int | None = None,
) -> StreamingResponse:
    """The export as a streamed JSONL download (also the UI's per-window download); 404 for a
    model the caller's project does not own."""

    def lines() -> Iterator[bytes]:
        with state.read_sessions() as session:
            state.owners.check(session, caller.project_id, model)
            for example in retraining_examples(
                session, model=model, since=since, until=until, reasons=reasons, limit=limit
            ):
                yield orjson.dumps(example) + b"\n"

    # Run the query before the 200 goes out, so that a failure is a proper error response
    # rather than a truncated stream.
    stream = lines()
    first = next(stream, b"")

    def body() -> Iterator[bytes]:
        yield first
        yield from stream

    # Header values are latin-1: keep the file name to safe ASCII whatever the model is called.
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model)[:80] or "model"
    filename = f"retraining-{safe}-{since:%Y%m%d}-{until:%Y%m%d}.jsonl"
    return StreamingResponse(
        body(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
