"""``POST /v1/feedback``."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter

from app.api.body import (
    one_or_batch_body,
    parse_json,
    read_json_body,
    split_batch,
    validate_items,
)
from app.api.deps import AppState, ingest_context
from app.api.errors import ERROR_RESPONSES
from app.api.feedback.schemas import FeedbackIn, FeedbackResult
from app.auth.keys import Caller
from app.db.storable import make_storable, refuse_pii_in_identifiers
from app.db.writers import upsert_feedback
from app.metrics.process import INGEST_FEEDBACK

router = APIRouter(prefix="/v1", tags=["feedback"], responses=ERROR_RESPONSES)

_FEEDBACK = TypeAdapter(list[FeedbackIn])

_OPENAPI_BODY = one_or_batch_body("FeedbackIn", "feedback", max_items=1000)


@router.post(
    "/feedback",
    status_code=202,
    response_model=FeedbackResult,
    openapi_extra=_OPENAPI_BODY,
    summary="Send labels or scores for logged events",
)
async def ingest_feedback(request: Request) -> FeedbackResult:
    """Store feedback keyed by ``(model, request_id)``; it may arrive before its event.

    Later feedback for the same event merges into the earlier one (fields it carries win).
    """
    state, caller = await ingest_context(request.scope)
    return await accept_feedback(
        state, caller, await read_json_body(request.headers, request.receive)
    )


async def accept_feedback(state: AppState, caller: Caller, body: bytes) -> FeedbackResult:
    """Validate a JSON body of one item or a batch and store it (see ``ingest_feedback``; the
    api serves that route through here, app.api.hot_path)."""
    items, is_batch = split_batch(
        parse_json(body), "feedback", max_items=state.settings.max_batch_events
    )
    feedback = validate_items(_FEEDBACK, items, "feedback", is_batch)
    return await store_feedback(state, caller, feedback)


async def store_feedback(
    state: AppState, caller: Caller, feedback: list[FeedbackIn]
) -> FeedbackResult:
    """Upsert validated feedback in one transaction; returns after COMMIT. Shared by
    ``/v1/feedback`` and the OTLP route (feedback span events)."""
    # One statement cannot upsert the same key twice, so merge repeats in order first.
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    sanitized = redacted = 0
    for fb in feedback:
        if state.settings.redact_pii:
            refuse_pii_in_identifiers({"request_id": fb.request_id}, ("request_id",))
        row, changed, n = make_storable(
            fb.model_dump(mode="json"),
            free_text=("label", "reference", "source"),
            redact=state.settings.redact_pii,
        )
        sanitized += changed
        redacted += n
        row["thumbs"] = None if fb.thumbs is None else (1 if fb.thumbs else -1)
        key = (row["model"], row["request_id"])
        if key in merged:
            merged[key].update({k: v for k, v in row.items() if v is not None})
        else:
            merged[key] = row
    rows = list(merged.values())

    def write() -> int:
        with state.engine.begin() as conn:
            state.owners.claim(conn, caller.project_id, {r["model"] for r in rows})
            return upsert_feedback(conn, rows)

    await run_in_threadpool(write)
    INGEST_FEEDBACK.inc(len(feedback))
    return FeedbackResult(accepted=len(feedback), sanitized=sanitized, redacted=redacted)
