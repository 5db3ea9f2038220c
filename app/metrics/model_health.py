"""Model health for Prometheus, read from PostgreSQL at scrape time.

The collector reads the latest finished window of every monitor
(``app.monitoring.runs.latest_per_monitor``, the rule the status route uses too) on each
scrape, so every api replica reports the same values whichever worker computed them; the
versions' reported scores come from ``app.models.versions`` and the featuriser's lag from
``app.jobs.featurise`` — this module holds no SQL of its own. Labels are bounded: model,
monitor, check, metric/feature names from the engine — never request ids or text.
"""

import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from app.engine.results import VERDICT_STATUSES, Status
from app.jobs import featurise
from app.models import versions
from app.monitoring import runs

log = logging.getLogger("driftline.metrics")

# Reported offline metrics of each model's newest versions only: a pipeline that reports
# every build must not grow the series without bound (the rows stay in the database).
REPORTED_VERSIONS_EXPORTED = 10

COLLECTOR_UP_HELP = (
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
        up = GaugeMetricFamily("driftline_collector_up", COLLECTOR_UP_HELP)
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
            lag.add_metric([], featurise.lag_seconds(conn))
            newest = REPORTED_VERSIONS_EXPORTED
            for rm in versions.reported_metrics(conn, newest_versions=newest):
                reported.add_metric([rm.model, rm.version, rm.split, rm.metric], rm.value)
        yield from (
            verdict, retrain, last, window, window_end, events, check, value, threshold, queue,
            lag, reported, errors,
        )  # fmt: skip
