"""``POST /v1/otlp/v1/traces`` as the OTLP/HTTP spec has exporters use it: protobuf and JSON,
gzip, batches, retries, partial success, and the errors an exporter acts on."""

import base64
import gzip
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from sqlalchemy import Engine, text

from app.config import Settings
from app.db.migrate import upgrade
from app.main import create_app
from tests.conftest import auth
from tests.pg import PrivatePostgres, key_at

URL = "/v1/otlp/v1/traces"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
START = 1_795_000_000_000_000_000  # 2026-11-19, in nanoseconds


def value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, list):
        out = AnyValue()
        out.array_value.values.extend(value(x) for x in v)
        return out
    return AnyValue(string_value=str(v))


def chat_span(i: int, **extra: Any) -> Span:
    """An LLM-call span in the current GenAI conventions."""
    attrs = {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "support-bot",
        "gen_ai.input.messages": orjson.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": f"question {i}"}]}]
        ).decode(),
        "gen_ai.output.messages": orjson.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "answer"}],
              "finish_reason": "stop"}]
        ).decode(),
        "gen_ai.usage.input_tokens": 9, "gen_ai.usage.output_tokens": 2, **extra,
    }  # fmt: skip
    return make_span(i, attrs)


def make_span(i: int, attrs: dict[str, Any]) -> Span:
    return Span(
        trace_id=i.to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name="chat",
        start_time_unix_nano=START + i * 1_000_000,
        end_time_unix_nano=START + i * 1_000_000 + 250_000_000,
        attributes=[KeyValue(key=k, value=value(v)) for k, v in attrs.items() if v is not None],
    )  # fmt: skip


def export(*spans: Span) -> ExportTraceServiceRequest:
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    resource.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="support-service"))
    )
    return ExportTraceServiceRequest(resource_spans=[resource])


def as_otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON: the protobuf JSON mapping with hex trace and span ids."""
    doc = json_format.MessageToDict(request)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for name in ("traceId", "spanId"):
                    span[name] = base64.b64decode(span[name]).hex()
    return orjson.dumps(doc)


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())


@pytest.fixture
def ingest(make_key: Callable[..., str]) -> dict[str, str]:
    return auth(make_key("ingest"))


def test_protobuf_export_stores_each_llm_span_once_and_answers_in_protobuf(
    client: TestClient, ingest: dict[str, str], engine: Engine
) -> None:
    body = export(*(chat_span(i) for i in range(512))).SerializeToString()
    r = client.post(URL, content=body, headers={**ingest, **PROTOBUF})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert not answer.HasField("partial_success")
    assert count(engine) == 512
    # The exporter retries the same export (a lost answer): nothing is stored twice.
    again = client.post(URL, content=body, headers={**ingest, **PROTOBUF})
    assert again.status_code == 200 and count(engine) == 512
    with engine.connect() as conn:
        query = text("SELECT * FROM events WHERE prompt = 'question 7'")
        row = conn.execute(query).mappings().one()
    assert row["request_id"] == f"{7:032x}-{8:016x}"
    assert row["latency_ms"] == pytest.approx(250.0)
    assert row["prompt_tokens"] == 9 and row["finish_reason"] == "stop"


def test_json_and_gzip_are_the_same_export(
    client: TestClient, ingest: dict[str, str], engine: Engine
) -> None:
    request = export(chat_span(1), chat_span(2))
    r = client.post(URL, content=as_otlp_json(request),
                    headers={**ingest, "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
    assert r.json() == {}
    zipped = gzip.compress(request.SerializeToString())
    r = client.post(URL, content=zipped, headers={**ingest, **PROTOBUF, "Content-Encoding": "gzip"})
    assert r.status_code == 200 and count(engine) == 2  # the same span ids: duplicates


def test_other_spans_are_skipped_and_an_incomplete_llm_span_is_a_partial_success(
    client: TestClient, ingest: dict[str, str], engine: Engine
) -> None:
    http = make_span(10, {"http.request.method": "GET", "url.path": "/health"})
    no_output = chat_span(11, **{"gen_ai.output.messages": None})
    body = export(chat_span(12), http, no_output).SerializeToString()
    r = client.post(URL, content=body, headers={**ingest, **PROTOBUF})
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 1
    assert f"{11:032x}-{12:016x}" in partial.error_message and "output" in partial.error_message
    assert count(engine) == 1
    metrics = client.get("/metrics").text
    assert 'driftline_otlp_spans_total{outcome="skipped"}' in metrics
    assert 'driftline_otlp_spans_total{outcome="rejected"}' in metrics


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        (b"\x0a\xff\xff\xff", PROTOBUF, 400, "ExportTraceServiceRequest"),
        (b"", PROTOBUF, 400, "empty"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
         {"Content-Type": "application/json"}, 400, "not hex"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, "JSON object"),
        (b"not gzip", {**PROTOBUF, "Content-Encoding": "gzip"}, 400, "gzip"),
        (b"x", {**PROTOBUF, "Content-Encoding": "br"}, 415, "gzip"),
        (b"x", {"Content-Type": "text/plain"}, 415, "application/x-protobuf"),
    ],
)  # fmt: skip
def test_a_malformed_export_is_a_4xx_naming_it_and_stores_nothing(
    client: TestClient, ingest: dict[str, str], engine: Engine,
    body: bytes, headers: dict[str, str], status: int, says: str,
) -> None:  # fmt: skip
    r = client.post(URL, content=body, headers={**ingest, **headers})
    assert r.status_code == status and says in error_message(r), r.text
    assert count(engine) == 0


def error_message(r: Any) -> str:
    """The message of an OTLP error body: a google.rpc.Status in the request's encoding (or
    Driftline's JSON error when the request was neither protobuf nor JSON)."""
    kind = r.headers["content-type"]
    if kind == "application/x-protobuf":
        return str(Status.FromString(r.content).message)
    body = r.json()
    return str(body["message"] if "message" in body else body["error"]["message"])


def test_a_gzip_bomb_is_refused_before_it_is_inflated(
    client: TestClient, ingest: dict[str, str]
) -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MB inflated, ~64 KB sent
    r = client.post(URL, content=bomb, headers={**ingest, **PROTOBUF, "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "inflates" in error_message(r)
    assert Status.FromString(r.content).code == 8  # RESOURCE_EXHAUSTED


def test_a_wrong_key_is_401(client: TestClient) -> None:
    body = export(chat_span(1)).SerializeToString()
    # The key is checked before a byte of the body is read (by the body gate, for every
    # route), so this error is Driftline's JSON one; the exporter only needs the 401.
    r = client.post(URL, content=body, headers={"Authorization": "Bearer nope", **PROTOBUF})
    assert r.status_code == 401 and "key" in error_message(r)


def test_an_error_inside_the_route_is_a_google_rpc_status(
    client: TestClient, ingest: dict[str, str]
) -> None:
    r = client.post(URL, content=b"\x0a\xff", headers={**ingest, **PROTOBUF})
    assert r.status_code == 400 and r.headers["content-type"] == "application/x-protobuf"
    assert Status.FromString(r.content).code == 3  # INVALID_ARGUMENT
    r = client.post(URL, content=b"[]", headers={**ingest, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == 3 and "JSON object" in r.json()["message"]


def test_feedback_span_events_label_their_own_call(
    client: TestClient, ingest: dict[str, str], engine: Engine
) -> None:
    span = chat_span(20)
    span.events.add(name="driftline.feedback", time_unix_nano=START).attributes.extend(
        [
            KeyValue(key="label", value=value("billing")),
            KeyValue(key="source", value=value("agent")),
        ]
    )
    judged = span.events.add(name="gen_ai.evaluation.result", time_unix_nano=START)
    judged.attributes.extend(
        [
            KeyValue(key="gen_ai.evaluation.name", value=value("relevance")),
            KeyValue(key="gen_ai.evaluation.score.value", value=value(0.75)),
        ]
    )
    bad = chat_span(21)
    bad.events.add(name="driftline.feedback").attributes.append(
        KeyValue(key="score", value=value(7.0))  # outside [0, 1]
    )
    r = client.post(URL, content=export(span, bad).SerializeToString(),
                    headers={**ingest, **PROTOBUF})  # fmt: skip
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert r.status_code == 200 and partial.rejected_spans == 0
    assert f"feedback on span {21:032x}-{22:016x}: score" in partial.error_message
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM feedback")).mappings().all()
    assert [(f["request_id"], f["label"], f["score"]) for f in rows] == [
        (f"{20:032x}-{21:016x}", "billing", 0.75)
    ]
    assert count(engine) == 2


@pytest.mark.parametrize(
    ("source", "model", "version"),
    [("request", "support-bot", "support-bot-2026"), ("response", "support-bot-2026", ""),
     ("service", "support-service", "support-bot-2026")],
)  # fmt: skip
def test_the_model_name_comes_from_the_request_the_response_or_the_service(
    client: TestClient, ingest: dict[str, str], engine: Engine,
    source: str, model: str, version: str,
) -> None:  # fmt: skip
    body = export(chat_span(30, **{"gen_ai.response.model": "support-bot-2026"}))
    headers = {**ingest, **PROTOBUF, "Driftline-Model-From": source}
    assert client.post(URL, content=body.SerializeToString(), headers=headers).status_code == 200
    with engine.connect() as conn:
        row = conn.execute(text("SELECT model, model_version FROM events")).one()
    assert tuple(row) == (model, version)
    headers["Driftline-Model-From"] = "span.name"
    r = client.post(URL, content=body.SerializeToString(), headers=headers)
    assert r.status_code == 400 and "request, response, service" in error_message(r)


def test_nul_in_a_protobuf_string_is_stored_replaced(
    client: TestClient, ingest: dict[str, str], engine: Engine
) -> None:
    # Valid protobuf (strings may hold NUL); PostgreSQL text may not.
    messages = [{"role": "user", "parts": [{"type": "text", "content": "a\x00b"}]}]
    span = chat_span(40, **{"gen_ai.input.messages": orjson.dumps(messages).decode()})
    request = export(span)
    request.resource_spans[0].resource.attributes.append(
        KeyValue(key="host.name", value=value("web\x001"))
    )
    r = client.post(URL, content=request.SerializeToString(), headers={**ingest, **PROTOBUF})
    assert r.status_code == 200, r.text
    clean = export(chat_span(41)).SerializeToString()  # zero bytes in its ids, no NUL text
    assert client.post(URL, content=clean, headers={**ingest, **PROTOBUF}).status_code == 200
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT prompt, metadata FROM events ORDER BY prompt")).all()
    assert [(p, m.get("host.name")) for p, m in rows] == [
        ("a\ufffdb", "web\ufffd1"),
        ("question 41", None),
    ]


def test_the_database_going_away_is_a_retryable_503(private_pg: PrivatePostgres) -> None:
    url = private_pg.url()
    upgrade(url)
    key = key_at(url, "ingest")
    settings = Settings(db_connect_timeout_seconds=2, api_key_cache_seconds=60)
    body = export(chat_span(1)).SerializeToString()
    headers = {**auth(key), **PROTOBUF}
    with TestClient(create_app(url, settings), raise_server_exceptions=False) as client:
        assert client.post(URL, content=body, headers=headers).status_code == 200
        private_pg.stop()
        try:
            r = client.post(URL, content=export(chat_span(2)).SerializeToString(), headers=headers)
            # The spec's retryable answer: the exporter waits Retry-After and sends it again.
            assert r.status_code == 503 and int(r.headers["retry-after"]) > 0, r.text
            assert Status.FromString(r.content).code == 14  # UNAVAILABLE
        finally:
            private_pg.start()
        retry = client.post(URL, content=export(chat_span(2)).SerializeToString(), headers=headers)
        assert retry.status_code == 200


def test_resource_attributes_become_bounded_flat_metadata(
    client: TestClient, ingest: dict[str, str], engine: Engine
) -> None:
    request = export(chat_span(50))
    resource = request.resource_spans[0].resource
    for i in range(100):
        resource.attributes.append(KeyValue(key=f"k{i:03d}", value=value("v" * 1000)))
    nested = AnyValue()
    nested.kvlist_value.values.append(KeyValue(key="deep", value=value("x")))
    resource.attributes.append(KeyValue(key="a.nested", value=nested))
    r = client.post(URL, content=request.SerializeToString(), headers={**ingest, **PROTOBUF})
    assert r.status_code == 200
    with engine.connect() as conn:
        metadata = conn.execute(text("SELECT metadata FROM events")).scalar_one()
    assert len(metadata) == 32 and metadata["a.nested"] == '{"deep":"x"}'
    assert max(len(str(v)) for v in metadata.values()) == 256


def test_an_export_past_the_batch_cap_is_413_and_stores_nothing(
    client: TestClient, ingest: dict[str, str], engine: Engine
) -> None:
    """One export is one batch: at most 1,000 LLM-call spans (as POST /v1/events), and at
    most ten times that many spans of any kind, refused before any becomes an event."""
    calls = export(*(chat_span(i) for i in range(1_001))).SerializeToString()
    r = client.post(URL, content=calls, headers={**ingest, **PROTOBUF})
    assert r.status_code == 413, r.content
    assert b"1001 LLM-call spans" in r.content and b"OTEL_BSP_MAX_EXPORT_BATCH_SIZE" in r.content
    other = export(*(make_span(i, {"db.system": "postgresql"}) for i in range(10_001)))
    r = client.post(URL, content=other.SerializeToString(), headers={**ingest, **PROTOBUF})
    assert r.status_code == 413 and b"10001 spans" in r.content, r.content
    assert count(engine) == 0
    # At the cap, the export is stored as it always was.
    r = client.post(
        URL, content=export(*(chat_span(i) for i in range(1_000))).SerializeToString(),
        headers={**ingest, **PROTOBUF},
    )  # fmt: skip
    assert r.status_code == 200 and count(engine) == 1_000
