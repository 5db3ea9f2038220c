"""``POST /v1/events`` (ingest) and ``GET /v1/events`` (the events behind a verdict)."""

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints, TypeAdapter

from app.api.body import (
    FastItems,
    one_or_batch_body,
    parse_json,
    read_json_body,
    split_batch,
    validate_items,
)
from app.api.deps import AppState, ReadCaller, ReadSessionDep, StateDep, ingest_context
from app.api.errors import ERROR_RESPONSES
from app.api.events.schemas import (
    EventDetail,
    EventIn,
    EventPage,
    EventStruct,
    IngestResult,
    StoredEvent,
    check_event,
)
from app.api.params import NO_NUL, ModelName, ModelQuery, RequestIdPath, TextFilter
from app.auth.keys import Caller
from app.db.storable import make_storable, refuse_pii_in_identifiers
from app.engine.perplexity import perplexity_from_logprobs
from app.errors import DriftlineError
from app.events import browse
from app.fields import UtcDatetime
from app.metrics.process import INGEST_EVENTS

router = APIRouter(prefix="/v1", tags=["events"], responses=ERROR_RESPONSES)

_EVENTS = TypeAdapter(list[EventIn])
# Counter series bound once: a label lookup per request was ≈1 % of a single event's CPU.
_ACCEPTED, _DUPLICATE, _REJECTED = (
    INGEST_EVENTS.labels(outcome) for outcome in ("accepted", "duplicate", "rejected")
)
_FAST_EVENTS = FastItems(EventStruct, "events", check_event)
_ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def json_may_hold_nul(body: bytes) -> bool:
    """Whether a JSON body can decode to text PostgreSQL cannot store: JSON carries NUL or a
    lone surrogate only as an escape (\\u0000, \\ud800-\\udfff), so without one the deep scan
    of every string is skipped. A body without a backslash holds no escape at all: one memchr
    (4 µs for 500 events) instead of the pattern's scan (110 µs)."""
    return b"\\" in body and _ESCAPES.search(body) is not None


_OPENAPI_BODY = one_or_batch_body("EventIn", "events", max_items=1000)


_FREE_TEXT = ("prompt", "output", "prediction", "finish_reason", "metadata")


def to_rows(
    events: list[EventIn] | list[EventStruct],
    *,
    may_hold_nul: bool = True,
    redact_pii: bool = False,
) -> tuple[list[dict[str, Any]], int, int]:
    """Event models → writer rows (request ids assigned, NULs replaced, PII redacted if asked);
    also how many events had NULs replaced and how many PII spans were redacted.

    ``may_hold_nul=False`` (the body has no ``\\u0000`` escape) skips the deep NUL scan.
    """
    now = datetime.now(UTC)
    rows = []
    sanitized = redacted = 0
    for ev in events:
        perplexity = ev.perplexity
        if perplexity is None and ev.token_logprobs:
            perplexity = perplexity_from_logprobs(ev.token_logprobs)
        row: dict[str, Any] = {
            "model": ev.model,
            "model_version": ev.model_version,
            "request_id": ev.request_id or uuid.uuid4().hex,
            "ts": ev.ts or now,
            "prompt": ev.prompt,
            "output": ev.output,
            "prediction": ev.prediction,
            "confidence": ev.confidence,
            "latency_ms": ev.latency_ms,
            "prompt_tokens": ev.prompt_tokens,
            "completion_tokens": ev.completion_tokens,
            "perplexity": perplexity,
            "logprob_tokens": len(ev.token_logprobs) if ev.token_logprobs else None,
            "finish_reason": ev.finish_reason,
            # float4 underflows below ~1e-38 (PostgreSQL refuses it): such a component is 0.
            "embedding": [0.0 if abs(v) < 1e-37 else v for v in ev.embedding]
            if ev.embedding
            else None,
            "metadata": ev.metadata,
        }
        if redact_pii:
            given = ("request_id",) if ev.request_id else ()
            refuse_pii_in_identifiers(row, (*given, "model_version"))
        if may_hold_nul or redact_pii:
            row, changed, n = make_storable(
                row, free_text=_FREE_TEXT, redact=redact_pii, may_hold_nul=may_hold_nul
            )
            sanitized += changed
            redacted += n
        rows.append(row)
    return rows, sanitized, redacted


@router.post(
    "/events",
    status_code=202,
    response_model=IngestResult,
    openapi_extra=_OPENAPI_BODY,
    summary="Log one event or a batch of up to 1,000",
    responses={
        400: {"description": "Empty or malformed JSON"},
        401: {"description": "Missing or invalid API key"},
        403: {"description": "Key lacks the ingest scope"},
        413: {"description": "Body over 10 MB or more than 1,000 events"},
        422: {"description": "An event is invalid; details name its index and field"},
        503: {
            "description": "Database unavailable, or this process's write queue is full or "
            "shutting down; nothing stored; retry after Retry-After"
        },
    },
)
async def ingest_events(request: Request) -> IngestResult:
    """Store events. The 202 is sent only after COMMIT; a batch is all or nothing.

    Re-sending an event with the same ``(model, request_id)`` stores nothing and counts it
    under ``duplicates``.
    """
    state, caller = await ingest_context(request.scope)
    body = await read_json_body(request.headers, request.receive)
    return await accept_events(state, caller, body)


async def accept_events(state: AppState, caller: Caller, body: bytes) -> IngestResult:
    """Validate a JSON body of one event or a batch and store it (see ``ingest_events``; the
    api serves that route through here, app.api.hot_path)."""
    max_items = state.settings.max_batch_events
    events: list[EventIn] | list[EventStruct] | None = _FAST_EVENTS.decode(
        body, max_items=max_items
    )
    if events is None:  # refused or coerced: pydantic words the error or accepts it
        items, is_batch = split_batch(parse_json(body), "events", max_items=max_items)
        try:
            events = validate_items(_EVENTS, items, "events", is_batch)
        except DriftlineError:
            _REJECTED.inc(len(items))
            raise
    return await store_events(state, caller, events, may_hold_nul=json_may_hold_nul(body))


async def store_events(
    state: AppState,
    caller: Caller,
    events: list[EventIn] | list[EventStruct],
    *,
    may_hold_nul: bool = True,
) -> IngestResult:
    """Write validated events (all or nothing) and say what happened; returns after their
    COMMIT. Shared by every ingest route (JSON events, OTLP spans)."""
    rows, sanitized, redacted = to_rows(
        events, may_hold_nul=may_hold_nul, redact_pii=state.settings.redact_pii
    )

    # Concurrent requests share one transaction and COMMIT (app.ingest); a model of another
    # project answers 404 for this request alone and stores none of its events.
    accepted = await state.ingest.submit(caller.project_id, rows)
    _ACCEPTED.inc(accepted)
    _DUPLICATE.inc(len(rows) - accepted)
    # Built from counts and ids already checked: no validation pass.
    return IngestResult.model_construct(
        accepted=accepted,
        duplicates=len(rows) - accepted,
        sanitized=sanitized,
        redacted=redacted,
        request_ids=[r["request_id"] for r in rows],
    )


_METADATA_PAIRS = Annotated[
    list[Annotated[str, StringConstraints(max_length=400, pattern=NO_NUL)]] | None,
    Query(
        max_length=10,
        description="key:value (repeatable): events whose metadata holds every pair, values "
        "compared as text",
    ),
]
_SEARCH = Annotated[
    str | None,
    Query(
        min_length=2,
        max_length=200,
        pattern=NO_NUL,
        description="Text in the prompt or output (case-insensitive, within the time range)",
    ),
]


@router.get("/events", response_model=EventPage, summary="List and search a model's events")
def list_events(
    session: ReadSessionDep,
    state: StateDep,
    caller: ReadCaller,
    model: ModelQuery,
    start: Annotated[UtcDatetime, Query(alias="from", description="Inclusive start.")],
    end: Annotated[UtcDatetime, Query(alias="to", description="Exclusive end.")],
    version: TextFilter = None,
    prediction: TextFilter = None,
    label: TextFilter = None,
    has_label: bool | None = None,
    has_score: bool | None = None,
    flagged: Annotated[
        bool | None,
        Query(description="Only events a check singled out in a window (or only the others)"),
    ] = None,
    metadata: _METADATA_PAIRS = None,
    q: _SEARCH = None,
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = browse.DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
) -> EventPage:
    """One model's events in ``from``..``to`` (at most 31 days), newest first, a page at a
    time (``next_cursor``). Filters: version, predicted class, label, whether a label or a
    score arrived, whether a check flagged it (the long tail's most novel, the label queue, a
    judge's failures), metadata pairs, and a text search. A search too broad to finish in 5 s is a
    422 asking for a narrower range. Another project's model is a 404."""
    state.owners.check(session, caller.project_id, model)
    flt = browse.EventFilter(
        model=model, start=start, end=end, version=version,
        prediction=prediction, label=label, has_label=has_label, has_score=has_score,
        metadata=browse.metadata_pairs(metadata or []), search=q, flagged=flagged,
    )  # fmt: skip
    page = browse.list_events(session, flt, limit=limit, cursor=cursor)
    return EventPage(
        events=[StoredEvent.model_validate(e) for e in page.events], next_cursor=page.next_cursor
    )


@router.get("/events/{model}/{request_id}", response_model=EventDetail, summary="One event in full")
def get_event(
    model: ModelName,
    request_id: RequestIdPath,
    session: ReadSessionDep,
    state: StateDep,
    caller: ReadCaller,
) -> EventDetail:
    """The event, its feedback and the descriptors the worker computed for it."""
    state.owners.check(session, caller.project_id, model)
    event = browse.get_event(session, model, request_id)
    if event is None:
        raise DriftlineError(404, "not_found", f"no event {request_id!r} of model {model!r}")
    return EventDetail.model_validate(event)
