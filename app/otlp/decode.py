"""OTLP/HTTP trace export bodies: protobuf or JSON, gzip or not → ``ExportTraceServiceRequest``.

Decoding is the ``opentelemetry-proto`` package's generated code; the only hand-written part
is OTLP/JSON's one departure from the protobuf JSON mapping: trace and span ids are hex, not
base64 (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding).
"""

import base64
import zlib
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from app.errors import DriftlineError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def media_type(content_type: str | None) -> str:
    """The request's OTLP encoding from its Content-Type; 415 for anything else."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in (PROTOBUF, JSON):
        return kind
    raise DriftlineError(
        415,
        "unsupported_media_type",
        f"Content-Type {kind or 'missing'!r}: OTLP/HTTP sends {PROTOBUF!r} or {JSON!r}",
    )


def decompress(body: bytes, encoding: str | None, *, max_bytes: int) -> bytes:
    """The body with ``Content-Encoding: gzip`` undone, refusing more than ``max_bytes``
    once inflated (a few KB of gzip can inflate to gigabytes)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding != "gzip":
        raise DriftlineError(
            415, "unsupported_encoding", f"Content-Encoding {encoding!r}: send gzip or none"
        )
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise DriftlineError(400, "invalid_gzip", f"the body is not valid gzip: {exc}") from None
    if len(out) > max_bytes:
        raise DriftlineError(
            413, "body_too_large", f"the body inflates to more than {max_bytes} bytes"
        )
    return out


def decode_request(body: bytes, kind: str) -> ExportTraceServiceRequest:
    """Parse an export request; 400 naming the problem when it is not one."""
    if not body:
        raise DriftlineError(400, "empty_body", "the request body is empty")
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise DriftlineError(
                400, "invalid_protobuf", f"not an ExportTraceServiceRequest: {exc}"
            ) from None
        return request
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DriftlineError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DriftlineError(400, "invalid_json", "the body must be a JSON object")
    try:
        json_format.ParseDict(_ids_to_base64(doc), request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError) as exc:
        raise DriftlineError(
            400, "invalid_otlp_json", f"not an OTLP/JSON ExportTraceServiceRequest: {exc}"
        ) from None
    return request


def _each(parent: Any, key: str) -> list[Any]:
    """``parent[key]`` when the parent is an object and that is a list, else nothing: a body
    of the wrong shape is left for the protobuf parser to name (a 400), never walked into."""
    children = parent.get(key) if isinstance(parent, dict) else None
    return children if isinstance(children, list) else []


def _ids_to_base64(doc: dict[str, Any]) -> dict[str, Any]:
    for resource_spans in _each(doc, "resourceSpans"):
        for scope_spans in _each(resource_spans, "scopeSpans"):
            for span in _each(scope_spans, "spans"):
                for name in _ID_FIELDS:
                    value = span.get(name) if isinstance(span, dict) else None
                    if isinstance(value, str) and value:
                        try:
                            span[name] = base64.b64encode(bytes.fromhex(value)).decode()
                        except ValueError:
                            raise ValueError(f"span {name} {value[:40]!r} is not hex") from None
    return doc


# An HTTP error's google.rpc code (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 408: 4, 413: 8, 415: 3, 422: 3, 429: 8, 503: 14}


def encode_status(kind: str, http_status: int, message: str) -> bytes:
    """An error body as OTLP/HTTP has it: a ``google.rpc.Status`` in the request's encoding
    (exporters log its message; whether they retry follows the HTTP status)."""
    status = Status(code=_RPC_CODES.get(http_status, 2), message=message)
    if kind == PROTOBUF:
        encoded: bytes = status.SerializeToString()
        return encoded
    return orjson.dumps(json_format.MessageToDict(status))


def encode_response(kind: str, rejected: int, message: str) -> bytes:
    """An ``ExportTraceServiceResponse`` in the request's encoding; ``partial_success``
    filled only when spans were rejected or there is a warning, as the spec asks."""
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if kind == PROTOBUF:
        return response.SerializeToString()
    return orjson.dumps(json_format.MessageToDict(response))
