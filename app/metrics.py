"""Prometheus metrics: the process's own (ingest, HTTP, runs) and model health from the DB.

Model health comes from a custom collector that reads the latest finished window of every
monitor (``app.monitoring.runs.latest_per_monitor``, the rule the status route uses too) on
each scrape, so every api replica reports the same values whichever worker
computed them. Labels are bounded: model, monitor, check, metric/feature names from the
engine — never request ids or text.

With several uvicorn workers (``PROMETHEUS_MULTIPROC_DIR`` set), prometheus-client's
multiprocess mode aggregates the process metrics across workers; it ignores collectors
registered the usual way, so ``/metrics`` builds its registry per scrape and adds the DB
collector to it explicitly.
"""

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

import app
from app.engine.results import VERDICT_STATUSES, Status
from app.monitoring import runs

log = logging.getLogger("driftline.metrics")

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

# Reported offline metrics of each model's newest versions only: a pipeline that reports
# every build must not grow the series without bound (the rows stay in the database).
REPORTED_VERSIONS_EXPORTED = 10
_REPORTED = text(
    """
    SELECT v.name, v.version, s.split, m.key AS metric, m.value
    FROM (SELECT name, version, training_metrics, validation_metrics,
                 row_number() OVER (PARTITION BY name ORDER BY created_at DESC, id DESC) AS newest
          FROM models
          WHERE training_metrics IS NOT NULL OR validation_metrics IS NOT NULL) v,
         LATERAL (VALUES ('training', v.training_metrics), ('validation', v.validation_metrics))
             AS s(split, metrics),
         jsonb_each(s.metrics) AS m
    WHERE v.newest <= :versions AND jsonb_typeof(m.value) = 'number'
    """
)
_FEATURISE_LAG = text(
    "SELECT coalesce(extract(epoch FROM now() - min(e.received_at)), 0) FROM events e "
    "WHERE e.id > coalesce((SELECT max(event_id) FROM event_features), 0)"
)

_COLLECTOR_UP_HELP = (
    "1 when this scrape read model health from the database, 0 when it could not (the "
    "model-health series are then missing from this scrape)."
)
# When this process's collector last read the database without error (0: never yet).
_last_success = 0.0
_last_success_lock = threading.Lock()

CHECK_STATUSES = tuple(s.value for s in Status)
VERDICTS = tuple(s.value for s in VERDICT_STATUSES)


class ModelHealthCollector(Collector):
    """Model-health gauges read from PostgreSQL at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Metric]:
        # Returning no descriptions keeps registration from querying the database.
        return []

    def collect(self) -> Iterator[Metric]:
        """Model health, then whether reading it worked: a database that cannot be read
        must not take the process's own metrics (and the scrape) down with it."""
        global _last_success
        started = time.monotonic()
        up = GaugeMetricFamily("driftline_collector_up", _COLLECTOR_UP_HELP)
        last = GaugeMetricFamily(
            "driftline_collector_last_success_timestamp_seconds",
            "Unix time this process last read model health from the database (0: never).",
        )
        duration = GaugeMetricFamily(
            "driftline_collector_duration_seconds",
            "How long this scrape spent reading model health from the database.",
        )
        try:
            families = list(self._model_health())
        except Exception as exc:  # any failure: report it as a value, keep the scrape
            log.warning("metrics: could not read model health: %s", type(exc).__name__)
            families = []
            up.add_metric([], 0.0)
        else:
            up.add_metric([], 1.0)
            with _last_success_lock:
                _last_success = time.time()
        yield from families
        with _last_success_lock:
            last.add_metric([], _last_success)
        duration.add_metric([], time.monotonic() - started)
        yield from (up, last, duration)

    def _model_health(self) -> Iterator[Metric]:
        labels = ["model", "monitor"]
        verdict = GaugeMetricFamily(
            "driftline_monitor_verdict",
            "1 for the verdict of the monitor's latest window with data (else its latest "
            "without enough), 0 for the others.",
            labels=[*labels, "verdict"],
        )
        retrain = GaugeMetricFamily(
            "driftline_retraining_recommended",
            "1 when the monitor's latest window recommends retraining.",
            labels=labels,
        )
        last = GaugeMetricFamily(
            "driftline_last_successful_run_timestamp_seconds",
            "Unix time any window of the monitor last finished (with data or without); the "
            "monitor's creation time until its first window finishes.",
            labels=labels,
        )
        window = GaugeMetricFamily(
            "driftline_monitor_window_seconds",
            "Length of the monitor's windows plus its delay for late events.",
            labels=labels,
        )
        window_end = GaugeMetricFamily(
            "driftline_last_window_end_timestamp_seconds",
            "Unix time the monitor's latest computed window ended.",
            labels=labels,
        )
        events = GaugeMetricFamily(
            "driftline_window_events", "Events in the monitor's latest window.", labels=labels
        )
        check = GaugeMetricFamily(
            "driftline_check_status",
            "1 for each check's status in the latest window (ok, warning, drift, degraded, "
            "insufficient_data, not_applicable, error: the check itself failed).",
            labels=[*labels, "check", "status"],
        )
        value = GaugeMetricFamily(
            "driftline_check_value",
            "Each number a check produced in the latest window (drift scores, quality, "
            "perplexity, long-tail share, label coverage…); ratios are 0-1.",
            labels=[*labels, "check", "metric", "feature"],
        )
        threshold = GaugeMetricFamily(
            "driftline_check_threshold",
            "The threshold a check value is compared with, where it has one.",
            labels=[*labels, "check", "metric", "feature"],
        )
        queue = GaugeMetricFamily(
            "driftline_runs", "Monitor windows waiting or being computed.", labels=["status"]
        )
        lag = GaugeMetricFamily(
            "driftline_featurise_lag_seconds",
            "Age of the oldest event the worker has not featurised yet (0 when caught up).",
        )
        reported = GaugeMetricFamily(
            "driftline_model_reported_metric",
            "What a model version scored offline, as reported by PUT /v1/models/{name}/metrics "
            "(split: training or validation); set beside driftline_check_value for production.",
            labels=["model", "version", "split", "metric"],
        )
        errors = CounterMetricFamily(
            "driftline_monitor_errors",
            "Errors planning or computing the monitor's windows (its last_error says the latest).",
            labels=labels,
        )
        with self.engine.connect() as conn:
            latest = runs.latest_per_monitor(conn)
            by_id = {r.run_id: r for r in latest}
            for r in latest:
                lv = [r.model, r.monitor]
                for v in VERDICTS:
                    verdict.add_metric([*lv, v], 1.0 if r.verdict == v else 0.0)
                retrain.add_metric(lv, 1.0 if r.retraining_recommended else 0.0)
                window_end.add_metric(lv, r.window_end.timestamp())
                events.add_metric(lv, float(r.n_events))
                for name, status in r.results.check_statuses().items():
                    for s in CHECK_STATUSES:
                        check.add_metric([*lv, name, s], 1.0 if status == s else 0.0)
            for mv in runs.metric_values(conn, list(by_id)):
                run = by_id[mv.run_id]
                lv = [run.model, run.monitor, mv.check, mv.metric, mv.feature or ""]
                value.add_metric(lv, mv.value)
                if mv.threshold is not None:
                    threshold.add_metric(lv, mv.threshold)
            for a in runs.monitor_activity(conn):
                lv = [a.model, a.monitor]
                window.add_metric(lv, float(a.window_seconds + a.delay_seconds))
                last.add_metric(lv, a.last_finished or a.created)
                errors.add_metric(lv, float(a.error_count))
            queued = runs.queue_counts(conn)
            for status, n in queued.items():
                queue.add_metric([status.value], float(n))
            lag.add_metric([], float(conn.execute(_FEATURISE_LAG).scalar_one()))
            reported_rows = conn.execute(_REPORTED, {"versions": REPORTED_VERSIONS_EXPORTED})
            for name, version, split, metric, number in reported_rows:
                reported.add_metric([name, version, split, metric], float(number))
        yield from (
            verdict, retrain, last, window, window_end, events, check, value, threshold, queue,
            lag, reported, errors,
        )  # fmt: skip


class Combined:
    """What ``generate_latest`` needs (``collect()``) over several sources."""

    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def _build_info() -> GaugeMetricFamily:
    info = GaugeMetricFamily(
        "driftline_build_info",
        "Always 1; the running Driftline's version and commit as labels.",
        labels=["version", "commit"],
    )
    info.add_metric([app.__version__, app.build_commit()], 1.0)
    return info


class _BuildInfo:
    def collect(self) -> Iterator[Metric]:
        yield _build_info()


def render(engine: Engine, *, model_health: bool = True) -> tuple[bytes, str]:
    """The /metrics body: process metrics (multiprocess-aware), plus model health unless the
    workers export it (``DRIFTLINE_MODEL_HEALTH_EXPORTER=worker``)."""
    process: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        process = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)  # type: ignore[no-untyped-call]
    sources: list[Any] = [process, _BuildInfo()]
    if model_health:
        sources.append(ModelHealthCollector(engine))
    return generate_latest(Combined(*sources)), CONTENT_TYPE_LATEST


# Any fixed number, the same in every worker: the lock whose holder exports model health.
MODEL_HEALTH_LOCK = 0x0D71F7_4EA1


class LeaderModelHealth:
    """Model health exported by exactly one worker of a deployment, whatever the replicas.

    Each scrape, a worker that does not yet lead tries PostgreSQL's session advisory lock on a
    connection of its own; the one that holds it exports the model-health series (and
    ``driftline_model_health_leader 1``), the others only the 0. When the leader dies its
    connection closes, the lock is free, and the next worker scraped takes over.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None
        self._lock = threading.Lock()

    def _leads(self) -> bool:
        with self._lock:
            if self._conn is not None:
                return True
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                won = bool(
                    conn.execute(
                        text("SELECT pg_try_advisory_lock(:k)"), {"k": MODEL_HEALTH_LOCK}
                    ).scalar_one()
                )
            except Exception:
                conn.close()
                raise
            if won:
                self._conn = conn
            else:
                conn.close()
            return won

    def release(self) -> None:
        """Give the lead up. The connection goes back to a pool, which would keep a session
        lock alive: unlock first, and if that fails, discard the connection (that frees it)."""
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MODEL_HEALTH_LOCK})
            except Exception:
                self._conn.invalidate()
            self._conn.close()
            self._conn = None

    def collect(self) -> Iterator[Metric]:
        """Model health if this worker leads; always whether it does."""
        leader = GaugeMetricFamily(
            "driftline_model_health_leader",
            "1 on the one worker that exports model health (an advisory lock), 0 elsewhere.",
        )
        try:
            leads = self._leads()
        except Exception as exc:  # the database is unreachable: nobody can lead now
            log.warning("metrics: cannot take the model-health lock: %s", type(exc).__name__)
            leads = False
            # Every worker says so, so that the database-unreachable alert still has data.
            down = GaugeMetricFamily("driftline_collector_up", _COLLECTOR_UP_HELP)
            down.add_metric([], 0.0)
            yield down
        if leads:
            families = list(ModelHealthCollector(self.engine).collect())
            up = next(f for f in families if f.name == "driftline_collector_up")
            if up.samples and up.samples[0].value == 0:
                self.release()  # its connection may be the broken one: retry next scrape
            yield from families
        leader.add_metric([], 1.0 if leads else 0.0)
        yield leader
