"""Event request/response schemas."""

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.fields import (
    NAME_MAX_LENGTH,
    NO_NUL,
    Id,
    Metadata,
    Name,
    PlausibleTs,
    bounded_metadata,
    plain_name,
    plausible_ts,
)

MAX_EMBEDDING_DIMS = 4096
MAX_LOGPROBS = 100_000


class EventIn(BaseModel):
    """One logged model call."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    model: Name
    model_version: Annotated[str, StringConstraints(max_length=200)] = ""
    request_id: Id | None = Field(
        default=None, description="Idempotency key per model; assigned by the server if absent."
    )
    ts: PlausibleTs | None = Field(
        default=None, description="When the call happened; now if absent."
    )
    prompt: str
    output: str
    prediction: str | None = None
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None
    latency_ms: Annotated[float, Field(ge=0)] | None = None
    prompt_tokens: Annotated[int, Field(ge=0, le=2_147_483_647)] | None = None
    completion_tokens: Annotated[int, Field(ge=0, le=2_147_483_647)] | None = None
    token_logprobs: (
        Annotated[
            list[Annotated[float, Field(ge=-1e4, le=0)]],
            Field(min_length=1, max_length=MAX_LOGPROBS),
        ]
        | None
    ) = None
    perplexity: Annotated[float, Field(ge=1, le=1e300)] | None = None
    finish_reason: Annotated[str, StringConstraints(max_length=64)] | None = None
    # Stored as float4, whose range is about ±3.4e38.
    embedding: (
        Annotated[
            list[Annotated[float, Field(ge=-1e30, le=1e30)]],
            Field(min_length=1, max_length=MAX_EMBEDDING_DIMS),
        ]
        | None
    ) = None
    metadata: Metadata | None = None


_NAME = Meta(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NO_NUL)
_LOGPROB = Annotated[float, Meta(ge=-1e4, le=0)]
_COMPONENT = Annotated[float, Meta(ge=-1e30, le=1e30)]
_COUNT = Annotated[int, Meta(ge=0, le=2_147_483_647)]


class EventStruct(msgspec.Struct, forbid_unknown_fields=True):
    """``EventIn`` for ``app.api.body.FastItems``: the same fields, defaults and bounds,
    decoded straight from the body (a body it refuses is validated again by ``EventIn``).
    tests/api/test_event_decoding.py holds the two to the same verdicts."""

    model: Annotated[str, _NAME]
    prompt: str
    output: str
    model_version: Annotated[str, Meta(max_length=200)] = ""
    request_id: Annotated[str, _NAME] | None = None
    ts: datetime | None = None
    prediction: str | None = None
    confidence: Annotated[float, Meta(ge=0, le=1)] | None = None
    latency_ms: Annotated[float, Meta(ge=0)] | None = None
    prompt_tokens: _COUNT | None = None
    completion_tokens: _COUNT | None = None
    token_logprobs: (
        Annotated[list[_LOGPROB], Meta(min_length=1, max_length=MAX_LOGPROBS)] | None
    ) = None
    perplexity: Annotated[float, Meta(ge=1, le=1e300)] | None = None
    finish_reason: Annotated[str, Meta(max_length=64)] | None = None
    embedding: (
        Annotated[list[_COMPONENT], Meta(min_length=1, max_length=MAX_EMBEDDING_DIMS)] | None
    ) = None
    metadata: dict[str, Any] | None = None


def check_event(event: EventStruct) -> None:
    """What ``EventIn``'s validators add to its bounds: a plain model name, metadata size and
    depth, a plausible timestamp (naive means UTC)."""
    plain_name(event.model)
    if event.metadata is not None:
        bounded_metadata(event.metadata)
    if event.ts is not None:
        event.ts = plausible_ts(event.ts)


class IngestResult(BaseModel):
    """What an ingest request stored. Sent only after the rows are committed."""

    accepted: int = Field(description="Events stored by this request.")
    duplicates: int = Field(description="Events whose (model, request_id) was already stored.")
    sanitized: int = Field(description="Events whose text had NUL characters replaced by U+FFFD.")
    redacted: int = Field(
        default=0,
        description="PII spans replaced by placeholders (only with DRIFTLINE_REDACT_PII).",
    )
    request_ids: list[str] = Field(description="The request_id of each event, in request order.")


class StoredEvent(BaseModel):
    """A stored event with its feedback (the latest for its request id), as listed."""

    id: int
    ts: datetime
    received_at: datetime
    model: str
    model_version: str
    request_id: str
    prompt: str
    output: str
    prediction: str | None = None
    confidence: float | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    perplexity: float | None = None
    finish_reason: str | None = None
    metadata: dict[str, Any] | None = None
    label: str | None = Field(default=None, description="The feedback's label, if any.")
    reference: str | None = Field(default=None, description="The feedback's reference answer.")
    score: float | None = Field(default=None, description="The feedback's score (0-1).")
    thumbs: int | None = Field(default=None, description="1 up, -1 down.")
    feedback_source: str | None = None


class EventPage(BaseModel):
    """One page of events, newest first; pass ``next_cursor`` back as ``cursor`` for the next
    (null: this was the last)."""

    events: list[StoredEvent]
    next_cursor: str | None


class EventJudgmentOut(BaseModel):
    """One LLM judge's answer about the event (``error``: it answered off-format)."""

    judge: str
    version: int
    score: float | None
    passed: bool | None
    reason: str | None
    error: str | None
    at: datetime


class EventFlagOut(BaseModel):
    """A window whose result singled the event out: which check, and why."""

    run_id: int
    window_start: datetime
    check: str = Field(description="long_tail, label_queue or judge")
    why: str


class EventDetail(StoredEvent):
    """One event with the descriptors the worker computed for it (null until featurised),
    its judges' answers, and what the windows holding it flagged it for."""

    features: dict[str, Any] | None = None
    judgments: list[EventJudgmentOut] = []
    flags: list[EventFlagOut] = []
