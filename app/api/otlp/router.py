"""``POST /v1/otlp/v1/traces``: OTLP/HTTP trace export. Point an exporter at
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=<driftline>/v1/otlp/v1/traces`` (or the base
``OTEL_EXPORTER_OTLP_ENDPOINT=<driftline>/v1/otlp``) with
``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<key>``; see docs/integrations.md."""

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from app.api.body import read_body
from app.api.deps import ingest_context
from app.api.errors import ERROR_RESPONSES
from app.api.events.router import json_may_hold_nul, store_events
from app.api.events.schemas import EventIn
from app.api.feedback.router import store_feedback
from app.api.feedback.schemas import FeedbackIn
from app.errors import DriftlineError
from app.metrics.process import INGEST_EVENTS, OTLP_SPANS
from app.otlp.decode import (
    JSON,
    decode_request,
    decompress,
    encode_response,
    encode_status,
    media_type,
)
from app.otlp.genai import MODEL_SOURCES, events_from_request


class OtlpRoute(APIRoute):
    """Errors in the body the OTLP spec asks for (a ``google.rpc.Status`` in the request's
    encoding) instead of Driftline's JSON error. The status code, headers (Retry-After) and
    message are still those of the app's one set of error handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def otlp_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                render = _handler_for(request, exc)
                if render is None:
                    raise
                plain: Response = await render(request, exc)
                try:
                    kind = media_type(request.headers.get("content-type"))
                except DriftlineError:
                    return plain  # neither protobuf nor JSON: the JSON error it is
                message = orjson.loads(plain.body)["error"]["message"]
                headers = {k: v for k, v in plain.headers.items() if k.lower() == "retry-after"}
                body = encode_status(kind, plain.status_code, message)
                return Response(body, plain.status_code, headers=headers, media_type=kind)

        return otlp_handler


def _handler_for(request: Request, exc: Exception) -> Any:
    handlers = request.app.exception_handlers
    return next((handlers[t] for t in type(exc).__mro__ if t in handlers), None)


router = APIRouter(
    prefix="/v1/otlp", tags=["opentelemetry"], responses=ERROR_RESPONSES, route_class=OtlpRoute
)

_EVENT = TypeAdapter(EventIn)
_EVENTS = TypeAdapter(list[EventIn])
_FEEDBACK = TypeAdapter(FeedbackIn)
# Which name is the event's model: request (default), response or service (service.name).
MODEL_FROM_HEADER = "Driftline-Model-From"
# Reasons quoted in partial_success.error_message: enough to fix the instrumentation.
MAX_REASONS = 5
# Spans of any kind per export, as a multiple of the events a batch may hold: spans that are
# not LLM calls are skipped, but each still costs decoding.
MAX_SPANS_PER_LIMIT = 10


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export: each LLM-call span becomes an event",
    response_class=Response,
    responses={
        200: {
            "description": "ExportTraceServiceResponse in the request's encoding; "
            "partial_success counts LLM-call spans that could not become events",
            "content": {"application/x-protobuf": {}, "application/json": {}},
        },
        400: {"description": "Not an OTLP export request (do not retry)"},
        401: {"description": "Missing or invalid API key"},
        413: {"description": "Body (or its gzip-inflated form) over the size limit"},
        415: {"description": "Content-Type not OTLP protobuf/JSON, or an unknown encoding"},
        503: {"description": "Database unavailable; nothing stored; retry after Retry-After"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def export_traces(request: Request) -> Response:
    """Store one event per LLM-call span (GenAI semantic conventions, their older form, or
    OpenInference); other spans are skipped and counted. The answer comes after COMMIT.

    Each event's ``request_id`` is ``<trace id>-<span id>`` (hex), so an exporter's retry
    stores nothing twice and ``/v1/feedback`` can label the call later."""
    state, caller = await ingest_context(request.scope)
    kind = media_type(request.headers.get("content-type"))
    body = decompress(
        await read_body(request),
        request.headers.get("content-encoding"),
        max_bytes=state.settings.max_body_bytes,
    )
    model_from = request.headers.get(MODEL_FROM_HEADER, "request").strip().lower()
    if model_from not in MODEL_SOURCES:
        raise DriftlineError(
            400,
            "invalid_header",
            f"{MODEL_FROM_HEADER}: {model_from[:40]!r}; one of {', '.join(MODEL_SOURCES)}",
        )
    export = decode_request(body, kind)
    limit = state.settings.max_batch_events
    # One export is one batch: bounded like POST /v1/events, before any span becomes an
    # event (a 10 MB export held 64,000 of them, past every queue cap, and stalled the loop).
    spans = sum(len(s.spans) for r in export.resource_spans for s in r.scope_spans)
    if spans > MAX_SPANS_PER_LIMIT * limit:
        raise _too_many(f"{spans} spans", MAX_SPANS_PER_LIMIT * limit)
    found = events_from_request(export, model_from=model_from)
    if len(found.events) > limit:
        raise _too_many(f"{len(found.events)} LLM-call spans", limit)
    events, reasons = _valid_events(found.events)
    feedback: list[FeedbackIn] = []
    warnings: list[str] = []
    for item in found.feedback:
        try:
            feedback.append(_FEEDBACK.validate_python(item))
        except ValidationError as exc:
            warnings.append(f"feedback on span {item['request_id']}: {_first_problem(exc)}")
    OTLP_SPANS.labels("skipped").inc(found.skipped)
    OTLP_SPANS.labels("rejected").inc(len(reasons))
    INGEST_EVENTS.labels("rejected").inc(len(reasons))
    if events:
        may_hold_nul = json_may_hold_nul(body) if kind == JSON else found.may_hold_nul
        result = await store_events(state, caller, events, may_hold_nul=may_hold_nul)
        OTLP_SPANS.labels("accepted").inc(result.accepted)
        OTLP_SPANS.labels("duplicate").inc(result.duplicates)
    if feedback:
        await store_feedback(state, caller, feedback)
    # partial_success carries warnings too (the spec allows a message with 0 rejected).
    message = f"{len(reasons)} LLM-call span(s) not stored: " if reasons else ""
    message += "; ".join((reasons + warnings)[:MAX_REASONS])
    return Response(encode_response(kind, len(reasons), message), media_type=kind)


def _too_many(what: str, most: int) -> DriftlineError:
    return DriftlineError(
        413, "batch_too_large",
        f"the export holds {what}; at most {most} per request (lower the exporter's batch "
        "size: OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512 by default); nothing was stored",
        {"max_items": most},
    )  # fmt: skip


def _valid_events(bodies: list[dict[str, Any]]) -> tuple[list[EventIn], list[str]]:
    """The events that validate, and a reason for each that does not. All at once first (one
    call into pydantic's core); only when something is wrong, span by span.

    The metadata is set after validation: it is the span's resource attributes, built by
    ``app.otlp.genai`` within tighter bounds than ``Metadata``'s (at most 32 flat keys) and
    shared by every span of a resource, so checking it once per span cost 5 µs for nothing.
    """
    metadata = [body.pop("metadata", None) for body in bodies]
    try:
        events = _EVENTS.validate_python(bodies)
        for event, shared in zip(events, metadata, strict=True):
            event.metadata = shared
        return events, []
    except ValidationError:
        pass
    events, reasons = [], []
    for body, shared in zip(bodies, metadata, strict=True):
        try:
            event = _EVENT.validate_python(body)
        except ValidationError as exc:
            reasons.append(f"span {body.get('request_id')}: {_first_problem(exc)}")
            continue
        event.metadata = shared
        events.append(event)
    return events, reasons


def _first_problem(exc: ValidationError) -> str:
    error: dict[str, Any] = dict(exc.errors()[0])
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
