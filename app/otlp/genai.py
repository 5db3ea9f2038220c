"""LLM-call spans → Driftline events, whichever instrumentation wrote them.

Three attribute styles are read (a span may mix them; the first found wins, in this order):

* the GenAI semantic conventions as of 2025-2026 (OpenLLMetry ≥ 0.50, the contrib
  ``opentelemetry-instrumentation-openai-v2`` with content capture on the span):
  ``gen_ai.input.messages`` / ``gen_ai.output.messages`` as JSON, ``gen_ai.usage.input_tokens``;
* the older conventions: ``gen_ai.prompt.N.role|content``, ``gen_ai.completion.N.content``,
  ``gen_ai.usage.prompt_tokens``;
* OpenInference (Arize Phoenix): ``llm.input_messages.N.message.role|content``,
  ``llm.output_messages.N.message.content``, ``llm.token_count.prompt``, ``llm.model_name``,
  and the raw response in ``output.value`` (token logprobs, when the call asked for them).

No library maps these: each instrumentation ships only its own writer, so the reader is here.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

# Resource attributes kept as event metadata: at most this many, strings cut to this length
# (a resource can carry host, process and k8s details no monitor needs).
MAX_RESOURCE_KEYS = 32
MAX_RESOURCE_VALUE_CHARS = 256
# What an LLM call's span says about itself.
_LLM_OPERATIONS = {"chat", "text_completion", "generate_content", "completion"}


# Where an event's model name comes from (``Driftline-Model-From`` on the export request).
MODEL_SOURCES = ("request", "response", "service")
# A span event carrying feedback for its own call: Driftline's, with FeedbackIn's fields…
FEEDBACK_EVENT = "driftline.feedback"
# …and the GenAI conventions' evaluation result, whose value becomes a score when in [0, 1].
EVALUATION_EVENT = "gen_ai.evaluation.result"


@dataclass
class SpanEvents:
    """What one export request holds: an event per LLM-call span, feedback carried by their
    span events, and the other spans counted."""

    events: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # spans that are not LLM calls (HTTP, database, framework…)
    # Whether any event's text holds NUL, which PostgreSQL cannot store (protobuf strings are
    # valid UTF-8, so NUL is the only such character): without one, the writer's deep scan
    # of every row is skipped. The body's bytes cannot tell: ids and varints hold zero bytes.
    may_hold_nul: bool = False


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as the Python value it holds."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP key/value pairs as a dict."""
    return {kv.key: any_value(kv.value) for kv in pairs}


def events_from_request(
    request: ExportTraceServiceRequest, *, model_from: str = "request"
) -> SpanEvents:
    """Every LLM-call span of an export request as an event body for ``EventIn``, and its
    feedback span events as bodies for ``FeedbackIn``. ``model_from`` (one of
    ``MODEL_SOURCES``) says which name is the event's model; the others are fallbacks."""
    out = SpanEvents()
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        metadata = _bounded(resource)
        if metadata and b"\\u0000" in orjson.dumps(metadata):
            out.may_hold_nul = True
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attrs = attributes(span.attributes)
                if not is_llm_call(attrs):
                    out.skipped += 1
                    continue
                event = llm_event(attrs, resource, model_from=model_from)
                event["request_id"] = request_id(span.trace_id, span.span_id)
                if span.events:
                    out.feedback += _feedback(span, event)
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if start:
                    event["ts"] = datetime.fromtimestamp(start / 1e9, UTC)
                if end >= start > 0:
                    event["latency_ms"] = (end - start) / 1e6
                if metadata:
                    event["metadata"] = metadata
                if not out.may_hold_nul:
                    out.may_hold_nul = any("\0" in v for v in event.values() if isinstance(v, str))
                out.events.append(event)
    return out


def request_id(trace_id: bytes, span_id: bytes) -> str:
    """The event's request id: ``<trace id>-<span id>`` in hex, as W3C traceparent shows
    them. An exporter's retry of the same span is then a duplicate, not a second event."""
    return f"{trace_id.hex()}-{span_id.hex()}"


def is_llm_call(attrs: Mapping[str, Any]) -> bool:
    """Whether a span records a call to a language model (not an HTTP, tool or DB span)."""
    if attrs.get("openinference.span.kind") is not None:
        return str(attrs["openinference.span.kind"]).upper() == "LLM"
    operation = attrs.get("gen_ai.operation.name")
    if operation is not None:
        return str(operation) in _LLM_OPERATIONS
    return "gen_ai.request.model" in attrs or "llm.model_name" in attrs


def llm_event(
    attrs: Mapping[str, Any], resource: Mapping[str, Any], *, model_from: str = "request"
) -> dict[str, Any]:
    """The event fields one LLM-call span gives (ids, time and metadata are added by the
    caller). Fields a span does not carry are left out, so validation names what is missing.

    The model is the requested model by default (the name the service asked for, stable
    across the provider's dated snapshots); the answering snapshot, when it differs, is the
    model version."""
    event: dict[str, Any] = {}
    requested = attrs.get("gen_ai.request.model") or _invocation_model(attrs)
    answered = attrs.get("gen_ai.response.model") or attrs.get("llm.model_name")
    service = resource.get("service.name")
    preferred = (
        answered if model_from == "response" else service if model_from == "service" else None
    )
    model = preferred or requested or answered or service
    if model is not None:
        event["model"] = str(model)
    if answered and requested and answered != requested and model_from != "response":
        event["model_version"] = str(answered)[:200]
    prompt = _prompt(attrs)
    if prompt is not None:
        event["prompt"] = prompt
    output, finish_reason = _output(attrs)
    if output is not None:
        event["output"] = output
    tokens_in = _first(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                       "llm.token_count.prompt")  # fmt: skip
    tokens_out = _first(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                        "llm.token_count.completion")  # fmt: skip
    if tokens_in is not None:
        event["prompt_tokens"] = tokens_in
    if tokens_out is not None:
        event["completion_tokens"] = tokens_out
    reasons = attrs.get("gen_ai.response.finish_reasons")
    finish: Any = finish_reason or (
        reasons[0] if isinstance(reasons, list) and reasons else reasons
    )
    finish = finish or attrs.get("llm.finish_reason")
    if finish:
        event["finish_reason"] = str(finish)[:64]
    logprobs = _logprobs(attrs)
    if logprobs:
        event["token_logprobs"] = logprobs
    return event


def _feedback(span: Span, event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Feedback bodies from the span's own events, keyed to the event it becomes."""
    out = []
    for span_event in span.events:
        attrs = attributes(span_event.attributes)
        item: dict[str, Any] = {}
        if span_event.name == FEEDBACK_EVENT:
            item = {k: attrs[k] for k in ("label", "score", "thumbs", "source") if k in attrs}
        elif span_event.name == EVALUATION_EVENT:
            score = attrs.get("gen_ai.evaluation.score.value")
            if isinstance(score, int | float) and 0 <= score <= 1:
                item = {"score": float(score), "source": attrs.get("gen_ai.evaluation.name")}
        if item:
            out.append({"model": event.get("model"), "request_id": event["request_id"], **item})
    return out


def _first(attrs: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            return value
    return None


def _invocation_model(attrs: Mapping[str, Any]) -> str | None:
    params = _json(attrs.get("llm.invocation_parameters"))
    return params.get("model") if isinstance(params, dict) else None


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _message_text(message: Mapping[str, Any]) -> str:
    """A conventions message's text: its text parts joined (or a plain ``content``)."""
    parts = message.get("parts")
    if isinstance(parts, list):
        texts = [p.get("content") for p in parts
                 if isinstance(p, dict) and p.get("type", "text") == "text"]  # fmt: skip
        return "\n".join(t if isinstance(t, str) else str(t) for t in texts if t)
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _indexed(attrs: Mapping[str, Any], prefix: str, suffix: str) -> list[tuple[str, str]]:
    """``prefix.N.<suffix>role`` / ``…content`` pairs in N order (the flattened forms)."""
    found: dict[int, dict[str, str]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if index.isdigit() and rest in (f"{suffix}role", f"{suffix}content"):
            found.setdefault(int(index), {})[rest.removeprefix(suffix)] = str(value)
    return [(m.get("role", ""), m.get("content", "")) for _, m in sorted(found.items())]


def _prompt(attrs: Mapping[str, Any]) -> str | None:
    """The prompt: the last user message (earlier turns and the system prompt are context
    the model saw, not the new input a drift check compares)."""
    messages = _json(attrs.get("gen_ai.input.messages"))
    if isinstance(messages, list):
        pairs = [
            (str(m.get("role", "")), _message_text(m)) for m in messages if isinstance(m, dict)
        ]
    else:
        pairs = _indexed(attrs, "gen_ai.prompt.", "") or _indexed(
            attrs, "llm.input_messages.", "message."
        )
    if not pairs:
        return None
    users = [content for role, content in pairs if role == "user"]
    return users[-1] if users else pairs[-1][1]


def _output(attrs: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The first choice's text and finish reason."""
    messages = _json(attrs.get("gen_ai.output.messages"))
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        return _message_text(messages[0]), messages[0].get("finish_reason")
    pairs = _indexed(attrs, "gen_ai.completion.", "") or _indexed(
        attrs, "llm.output_messages.", "message."
    )
    return (pairs[0][1], None) if pairs else (None, None)


def _logprobs(attrs: Mapping[str, Any]) -> list[float] | None:
    """Token logprobs from the raw response OpenInference records in ``output.value``."""
    if "output.value" not in attrs:
        return None
    response = _json(attrs["output.value"])
    try:
        content = response["choices"][0]["logprobs"]["content"]
        return [float(t["logprob"]) for t in content] or None
    except (TypeError, KeyError, IndexError, ValueError):
        return None


def _bounded(resource: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key in sorted(resource)[:MAX_RESOURCE_KEYS]:
        value = resource[key]
        if isinstance(value, str):
            value = value[:MAX_RESOURCE_VALUE_CHARS]
        elif not isinstance(value, bool | int | float):
            value = orjson.dumps(value).decode()[:MAX_RESOURCE_VALUE_CHARS]
        kept[key] = value
    return kept
