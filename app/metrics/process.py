"""The api process's own Prometheus metrics: what it received and how fast it answered.

Counters and histograms in prometheus-client's default registry; with several uvicorn
workers (``PROMETHEUS_MULTIPROC_DIR`` set) its multiprocess mode sums them across workers
(``app.metrics.exposition``). Model health is not here: it is read from the database at
scrape time (``app.metrics.model_health``).
"""

from prometheus_client import Counter, Histogram, disable_created_metrics

# A `_created` timestamp series beside every counter and histogram doubles their series for
# nothing the dashboards or rules read.
disable_created_metrics()  # type: ignore[no-untyped-call]

INGEST_EVENTS = Counter(
    "driftline_ingest_events",
    "Events received by POST /v1/events, by outcome (accepted, duplicate, rejected).",
    ["outcome"],
)
INGEST_GROUP_EVENTS = Histogram(
    "driftline_ingest_group_events",
    "Events per group-commit transaction (concurrent ingest requests share one COMMIT).",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
OTLP_SPANS = Counter(
    "driftline_otlp_spans",
    "Spans received by POST /v1/otlp/v1/traces, by outcome: accepted and duplicate (LLM calls "
    "stored or already stored), skipped (not an LLM call), rejected (an LLM call missing "
    "what an event needs).",
    ["outcome"],
)
INGEST_FEEDBACK = Counter(
    "driftline_ingest_feedback", "Feedback items stored by POST /v1/feedback."
)
SLOW_CLIENTS = Counter(
    "driftline_http_slow_clients",
    "Connections cut off for sending too slowly, or too much before any check: request "
    "headers past the header timeout (headers), headers larger than the limit "
    "(headers_too_large, 431), or a body stalled past the body read timeout (body, 408).",
    ["phase"],
)
REQUEST_SECONDS = Histogram(
    "driftline_http_request_duration_seconds",
    "HTTP request latency by route template, method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
