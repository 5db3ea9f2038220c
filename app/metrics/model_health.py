"""Model health for Prometheus, read from PostgreSQL at scrape time.

The collector reads which window speaks for every monitor (``app.monitoring.runs.latest_keys``,
the rule the status route uses too) on each scrape, so every api replica reports the same
values whichever worker computed them; each of those windows' series is read and formatted
once per stored version of it and kept (``LatestRunSeries``), so a scrape of a large fleet
formats only the windows stored since the last one. The
versions' reported scores come from ``app.models.versions`` and the featuriser's lag from
``app.jobs.featurise`` — this module holds no SQL of its own. Labels are bounded: model,
monitor, check, metric/feature names from the engine — never request ids or text.
"""

import functools
import logging
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine

from app.engine.results import VERDICT_STATUSES
from app.jobs import featurise
from app.metrics.prerendered import RenderedFamily, label_pairs, sample_line
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
        queue = GaugeMetricFamily(
            "driftline_runs", "Monitor windows waiting or being computed.", labels=["status"]
        )
        reports = GaugeMetricFamily(
            "driftline_reports_due",
            "Window reports waiting to be rendered (workers render them when no window waits).",
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
            latest_runs = _latest_series(self.engine).families(conn)
            for a in runs.monitor_activity(conn):
                lv = [a.model, a.monitor]
                window.add_metric(lv, float(a.window_seconds + a.delay_seconds))
                last.add_metric(lv, a.last_finished or a.created)
                errors.add_metric(lv, float(a.error_count))
            queued = runs.queue_counts(conn)
            for status, n in queued.items():
                queue.add_metric([status.value], float(n))
            reports.add_metric([], float(runs.reports_due(conn)))
            lag.add_metric([], featurise.lag_seconds(conn))
            newest = REPORTED_VERSIONS_EXPORTED
            for rm in versions.reported_metrics(conn, newest_versions=newest):
                reported.add_metric([rm.model, rm.version, rm.split, rm.metric], rm.value)
        yield from latest_runs
        yield from (last, window, queue, reports, lag, reported, errors)


# The series of each monitor's latest window, by family: name and help.
LATEST_RUN_FAMILIES = {
    "driftline_monitor_verdict": (
        "1 for the verdict of the monitor's latest window with data (else its latest without "
        "enough), 0 for the others."
    ),
    "driftline_retraining_recommended": "1 when the monitor's latest window recommends retraining.",
    "driftline_last_window_end_timestamp_seconds": (
        "Unix time the monitor's latest computed window ended."
    ),
    "driftline_window_events": "Events in the monitor's latest window.",
    "driftline_check_status": (
        "1, labelled with each check's status in the latest window (ok, warning, drift, "
        "degraded, insufficient_data, not_applicable, error: the check itself failed); a "
        "check's other statuses have no series."
    ),
    "driftline_check_value": (
        "Each number a check produced in the latest window (drift scores, quality, "
        "perplexity, long-tail share, label coverage…); ratios are 0-1."
    ),
    "driftline_check_threshold": (
        "The threshold a check value is compared with, where it has one."
    ),
}


@functools.lru_cache(maxsize=16_384)
def _metric_pairs(check: str, metric: str, feature: str) -> str:
    # The same few hundred triples recur in every monitor's series: escape each once.
    return label_pairs({"check": check, "metric": metric, "feature": feature})


def _run_text(run: runs.LatestRun, values: list[runs.StoredMetric]) -> dict[str, str]:
    """One latest run's series in the text format, by family name."""
    lv = label_pairs({"model": run.model, "monitor": run.monitor})
    out = {
        "driftline_monitor_verdict": "".join(
            sample_line("driftline_monitor_verdict", f'{lv},verdict="{v}"',
                        1.0 if run.verdict == v else 0.0)
            for v in VERDICTS
        ),
        "driftline_retraining_recommended": sample_line(
            "driftline_retraining_recommended", lv, 1.0 if run.retraining_recommended else 0.0
        ),
        "driftline_last_window_end_timestamp_seconds": sample_line(
            "driftline_last_window_end_timestamp_seconds", lv, run.window_end.timestamp()
        ),
        "driftline_window_events": sample_line("driftline_window_events", lv, run.n_events),
        # Only the status a check has: one series a check instead of one per status (a
        # third of a fleet's series); the alert rules and dashboards select status=… == 1.
        "driftline_check_status": "".join(
            sample_line(
                "driftline_check_status",
                f"{lv},{label_pairs({'check': name, 'status': status})}",
                1.0,
            )
            for name, status in run.results.check_statuses().items()
        ),
    }  # fmt: skip
    value, threshold = [], []
    for mv in values:
        pairs = f"{lv},{_metric_pairs(mv.check, mv.metric, mv.feature or '')}"
        value.append(sample_line("driftline_check_value", pairs, mv.value))
        if mv.threshold is not None:
            threshold.append(sample_line("driftline_check_threshold", pairs, mv.threshold))
    out["driftline_check_value"] = "".join(value)
    out["driftline_check_threshold"] = "".join(threshold)
    return out


class LatestRunSeries:
    """The series of every monitor's latest window, each run's formatted once per stored
    version of it (``LatestRun.version``): a scrape reads the latest runs' keys, then reads
    and formats only the runs stored since the last scrape. Holds the text of the current
    latest runs only (≈ 15 KB a monitor)."""

    def __init__(self) -> None:
        self._kept: dict[tuple[int, int, str, str], dict[str, str]] = {}

    def families(self, conn: Connection) -> list[RenderedFamily]:
        """The latest runs' families, read from ``conn`` where not kept."""
        kept = self._kept
        keys = [(k.run_id, k.version, k.model, k.monitor) for k in runs.latest_keys(conn)]
        missing = [k[0] for k in keys if k not in kept]
        now = {k: kept[k] for k in keys if k in kept}
        if missing:
            values: dict[int, list[runs.StoredMetric]] = defaultdict(list)
            for mv in runs.metric_values(conn, missing):
                values[mv.run_id].append(mv)
            for r in runs.latest_per_monitor(conn, run_ids=missing):
                now[(r.run_id, r.version, r.model, r.monitor)] = _run_text(r, values[r.run_id])
        # One assignment: a concurrent scrape sees the old map or the new, both whole.
        self._kept = now
        families = {name: RenderedFamily(name, doc) for name, doc in LATEST_RUN_FAMILIES.items()}
        for texts in now.values():
            for name, lines in texts.items():
                families[name].add_text(lines)
        return list(families.values())


_series_by_engine: "weakref.WeakKeyDictionary[Engine, LatestRunSeries]" = (
    weakref.WeakKeyDictionary()
)
_series_lock = threading.Lock()


def warm_latest_series(engine: Engine) -> threading.Thread:
    """Read and format every monitor's latest window once, in a background thread, so that
    the first scrape after the process starts only reads what changed since (at 2,000
    monitors the first scrape formatted every window: 1.2-1.6 s, against ≈ 0.5 s after).
    A failure is only logged: the first scrape then does the work, as before."""

    def warm() -> None:
        try:
            with engine.connect() as conn:
                _latest_series(engine).families(conn)
        except Exception as exc:
            log.warning("metrics: could not pre-read model health: %s", type(exc).__name__)

    thread = threading.Thread(target=warm, name="driftline-metrics-warm-up", daemon=True)
    thread.start()
    return thread


def _latest_series(engine: Engine) -> LatestRunSeries:
    """The engine's cache of latest-run series (one per database: tests use several)."""
    with _series_lock:
        series = _series_by_engine.get(engine)
        if series is None:
            series = _series_by_engine[engine] = LatestRunSeries()
        return series
