"""OTLP ingest benchmark: LLM-call spans via ``POST /v1/otlp/v1/traces`` (protobuf) vs the
same calls as ``POST /v1/events`` JSON batches, one server, one run.

Both sides carry 500 calls per request, the same text, from the same wrk connections; each
request gets fresh ids so every call is stored. Last line: ``otlp_ratio=<spans/s ÷
events/s>`` (goal ≥ 0.7).

    DRIFTLINE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres python -m bench.otlp
"""

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from bench.ingest import bench_http, make_events, server, stored_per_second
from tests.pg import key_at, scratch_database

# 16 bytes, the size of a trace id: wrk swaps each for a fresh id of the same length, so
# the protobuf's length prefixes stay right.
MARKER = b"@@TRACE-ID-16B@@"
WRK_SCRIPT = """
local started = 0
local sent = 0
function setup(thread) started = started + 1; thread:set("tid", started) end
local f = io.open(BODY_PATH, "rb"); local body = f:read("*a"); f:close()
request = function()
  sent = sent + 1
  local n = 0
  local fresh = string.gsub(body, "@@TRACE%-ID%-16B@@", function()
    n = n + 1
    return string.format("%02d%07d%07d", tid, sent, n)
  end)
  return wrk.format("POST", "/v1/otlp/v1/traces", HEADERS, fresh)
end
"""


def spans_request(events: list[dict[str, Any]]) -> bytes:
    """The events as one export of LLM-call spans in the current GenAI conventions."""

    def kv(key: str, value: Any) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))

    now = time.time_ns()
    spans = []
    for i, e in enumerate(events):
        user = [{"role": "user", "parts": [{"type": "text", "content": e["prompt"]}]}]
        answer = [{"role": "assistant", "parts": [{"type": "text", "content": e["output"]}],
                   "finish_reason": "stop"}]  # fmt: skip
        attrs = [
            kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", e["model"]),
            kv("gen_ai.response.model", e["model"] + "-2026-01"),
            kv("gen_ai.input.messages", orjson.dumps(user).decode()),
            kv("gen_ai.output.messages", orjson.dumps(answer).decode()),
            kv("gen_ai.usage.input_tokens", e["prompt_tokens"]),
            kv("gen_ai.usage.output_tokens", e["completion_tokens"]),
        ]  # fmt: skip
        spans.append(Span(trace_id=MARKER, span_id=(i + 1).to_bytes(8, "big"), name="chat",
                          start_time_unix_nano=now, end_time_unix_nano=now + 400_000_000,
                          attributes=attrs))  # fmt: skip
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    resource.resource.attributes.append(kv("service.name", "bench-service"))
    return ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString()


def bench_otlp(
    base: str, url: str, key: str, events: list[dict[str, Any]], *, connections: int,
    seconds: int,
) -> float:  # fmt: skip
    """Spans/s stored when ``connections`` wrk clients each export ``events`` as spans."""
    folder = Path(tempfile.mkdtemp())
    (folder / "body.bin").write_bytes(spans_request(events))
    headers = ('{["Content-Type"]="application/x-protobuf", ["Authorization"]="Bearer '
               + key + '"}')  # fmt: skip
    lua = WRK_SCRIPT.replace("BODY_PATH", repr(str(folder / "body.bin"))).replace(
        "HEADERS", headers
    )
    return stored_per_second(base, url, lua, len(events), connections=connections,
                             seconds=seconds)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=4, help="concurrent wrk connections")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each phase")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/otlp.py needs wrk: apt-get install wrk")
    with scratch_database("driftline_bench_otlp") as url:
        key = key_at(url, "ingest", name="bench")
        events = make_events(500)
        print(f"machine: {platform.machine()} {os.cpu_count()} cores, "
              f"python {platform.python_version()}", flush=True)  # fmt: skip
        with server(url) as base:
            bench_otlp(base, url, key, events, connections=args.senders, seconds=2)  # warm-up
            events_rate = bench_http(
                base, url, key, events, connections=args.senders, seconds=args.seconds
            )
            print(f"/v1/events batches of 500:      {events_rate:8.0f} events/s", flush=True)
            spans_rate = bench_otlp(
                base, url, key, events, connections=args.senders, seconds=args.seconds
            )
            print(f"/v1/otlp/v1/traces, 500 spans:  {spans_rate:8.0f} spans/s", flush=True)
    print(f"otlp_ratio={spans_rate / events_rate:.3f}")


if __name__ == "__main__":
    main()
