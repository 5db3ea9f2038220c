"""The worker's own telemetry: what it did (Prometheus metrics) and whether it is alive
(a heartbeat, served as ``/healthz``).

The api's ``/metrics`` reads model health from the database; these are the worker process's
own figures, served by ``driftline worker`` on ``DRIFTLINE_WORKER_METRICS_PORT``. A health
check that only asks "is PID 1 alive" passes while a worker is wedged; this one asks whether
the worker made progress recently.
"""

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import make_server

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

from app.metrics.exposition import Combined
from app.metrics.prerendered import render_families

TICK_SECONDS = Histogram(
    "driftline_worker_tick_seconds",
    "How long one tick of a worker lane took (worker: featurise, plan, compute; profiles).",
    ["lane"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
RUNS = Counter(
    "driftline_worker_runs",
    "Windows this worker computed, by outcome (done, insufficient_data, failed).",
    ["outcome"],
)
REPORTS = Counter(
    "driftline_worker_reports",
    "Window reports this worker handled (rendered, or given up when one could not be).",
)
WINDOW_READS = Counter(
    "driftline_worker_window_reads",
    "Windows whose events this worker read, by server: the read replica (it had replayed "
    "everything the primary held) or the primary (no replica, or it lagged past "
    "DRIFTLINE_REPLICA_WAIT_SECONDS).",
    ["source"],
)
STEP_ERRORS = Counter(
    "driftline_worker_step_errors", "Steps of a tick that raised (each logged).", ["step"]
)
COMPUTE_THREADS = Gauge(
    "driftline_worker_compute_threads",
    "Threads each loaded numeric library's pool may use in this worker (openblas, openmp, "
    "mkl): DRIFTLINE_WORKER_THREADS, as the libraries read it when they loaded.",
    ["library"],
)
HEARTBEAT = Gauge(
    "driftline_worker_heartbeat_timestamp_seconds",
    "Unix time this worker last made progress: a step begun or a window stored.",
)


# The same instant as the gauge, kept here too: a gauge's value has no public getter.
_last_progress = 0.0


def beat() -> None:
    """Record progress now."""
    global _last_progress
    _last_progress = time.time()
    HEARTBEAT.set(_last_progress)


def record_compute_threads() -> None:
    """Read the pools of the numeric libraries loaded so far (threadpoolctl: ≈ 2 ms), the
    largest of each kind: what a window's numpy, SciPy and scikit-learn code may spin up."""
    from threadpoolctl import threadpool_info

    largest: dict[str, int] = {}
    for pool in threadpool_info():
        api = str(pool["internal_api"])
        largest[api] = max(largest.get(api, 0), int(pool["num_threads"]))
    for api, threads in largest.items():
        COMPUTE_THREADS.labels(api).set(threads)


def healthy(max_silence_seconds: float) -> bool:
    """Whether the last progress is recent enough."""
    return bool(_last_progress) and time.time() - _last_progress <= max_silence_seconds


def serve(
    host: str, port: int, *, max_silence_seconds: float, extra: Any = None
) -> threading.Thread:
    """Serve ``/metrics`` (this process's registry, and ``extra``'s series when given: the
    model health this worker may lead) and ``/healthz`` in a daemon thread. Starting counts
    as progress: the first tick imports the engine (seconds) before its first step."""
    beat()
    sources = Combined(REGISTRY) if extra is None else Combined(REGISTRY, extra)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            ok = healthy(max_silence_seconds)
            body = b'{"status": "ok"}' if ok else b'{"status": "stale"}'
            status, content_type = (
                ("200 OK" if ok else "503 Service Unavailable"),
                "application/json",
            )
        else:
            body, status, content_type = (
                render_families(sources.collect()),
                "200 OK",
                CONTENT_TYPE_LATEST,
            )
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_SilentHandler)
    thread = threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True)
    thread.start()
    return thread
