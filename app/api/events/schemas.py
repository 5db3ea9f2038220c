"""Event request/response schemas."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.fields import Id, Metadata, Name, PlausibleTs

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
