"""A model's page: its versions' figures, and per monitor its charts over windows (two index
range scans per monitor whatever its history)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.api.ui.views.fleet import ModelRow, MonitorRow, monitor_rows
from app.api.ui.views.window import JudgeView, judge_views
from app.baselines.service import baselines_by_id
from app.db.models import Baseline, Model, Monitor
from app.models import versions as model_versions
from app.models.versions import VersionScores
from app.monitoring import monitors, runs
from app.monitoring.results import RunResults

# The windows a model page charts per monitor by default, and at most.
DEFAULT_CHART_WINDOWS = 500
MAX_CHART_WINDOWS = 5_000
# How the page's range fields write a moment (UTC).
_MINUTE = "%Y-%m-%dT%H:%M"
# The newest windows a panel lists under its charts.
RECENT_LISTED = 50


@dataclass
class Chart:
    """One time series chart over a monitor's windows (the panel holds the time axis)."""

    key: str
    title: str
    series: list[dict[str, Any]]
    # Pairs of series labels whose area between is shaded (a confidence band).
    bands: list[tuple[str, str]] = field(default_factory=list)


# Metrics drawn with their confidence band and the baseline's value, per quality metric.
_BANDED = ("f1", "accuracy", "estimated_f1", "estimated_accuracy")
# Checks in the order a person reads them: quality first, the window's volume last.
_CHECK_ORDER = (
    "quality", "estimated_quality", "descriptor_drift", "text_drift", "embedding_drift",
    "judge", "prediction_drift", "label_drift", "uncertainty_drift", "perplexity", "long_tail",
    "data_quality",
)  # fmt: skip


def _charted(check: str, metric: str) -> bool:
    """Test statistics (p-values) and the quality drops (the band against the baseline shows
    them better) stay on the window page."""
    if "p_value" in metric:
        return False
    return not (check == "quality" and metric.endswith("_relative_drop"))


def chart_order(key: tuple[str, str]) -> tuple[int, str, str]:
    check, metric = key
    rank = _CHECK_ORDER.index(check) if check in _CHECK_ORDER else len(_CHECK_ORDER)
    return rank, check, metric


@dataclass(frozen=True)
class Point:
    """One point of a panel's time axis: a window (``key`` its run id) or an hour or day of
    windows (``key`` its position)."""

    key: int
    n_events: int | None
    n_labels: int | None


def _charts(
    points: list[Point],
    series: list[runs.MetricSeries],
    offline: dict[str, float],
    spread: dict[tuple[str, str], tuple[list[float | None], list[float | None]]] | None = None,
) -> list[Chart]:
    """Per check: each window-level metric that has a threshold (value vs threshold); quality
    metrics with their confidence band, the baseline's value, and the version's training and
    validation figures; and the window volume. ``spread``: per metric, the lowest and highest
    window of each point (hours and days), drawn as a band around their mean."""
    index = {p.key: i for i, p in enumerate(points)}
    n = len(points)
    grid: dict[tuple[str, str], list[float | None]] = {}
    thresholds: dict[tuple[str, str], list[float | None]] = {}
    for s in series:
        ys: list[float | None] = [None] * n
        limits: list[float | None] = [None] * n
        for run_id, value, threshold in zip(s.run_ids, s.values, s.thresholds, strict=True):
            i = index[run_id]
            ys[i], limits[i] = value, threshold
        grid[(s.check, s.metric)] = ys
        if any(t is not None for t in limits):
            thresholds[(s.check, s.metric)] = limits
    charts: list[Chart] = []
    for (check, metric), ys in sorted(grid.items(), key=lambda kv: chart_order(kv[0])):
        if not _charted(check, metric):
            continue
        title = f"{check}: {metric}"
        if metric in _BANDED:
            lines = [{"label": metric, "values": ys, "kind": "value"}]
            bands = []
            low, high = (
                grid.get((check, f"{metric}_ci_low")),
                grid.get((check, f"{metric}_ci_high")),
            )
            if low and high:
                lines += [
                    {"label": "CI low", "values": low, "kind": "band"},
                    {"label": "CI high", "values": high, "kind": "band"},
                ]
                bands.append(("CI high", "CI low"))
            if base := grid.get((check, f"baseline_{metric}")):
                lines.append({"label": "baseline", "values": base, "kind": "threshold"})
            for split, figure in offline.items():
                if split.endswith(f" {metric}"):
                    lines.append({"label": split, "values": [figure] * n, "kind": "offline"})
            charts.append(Chart(f"{check}-{metric}", title, lines, bands))
        elif (check, metric) in thresholds:
            limit = {
                "label": "threshold",
                "values": thresholds[(check, metric)],
                "kind": "threshold",
            }
            lines = [{"label": metric, "values": ys, "kind": "value"}, limit]
            bands = []
            if spread and (check, metric) in spread:
                low, high = spread[(check, metric)]
                lines += [
                    {"label": "lowest window", "values": low, "kind": "band"},
                    {"label": "highest window", "values": high, "kind": "band"},
                ]
                bands.append(("highest window", "lowest window"))
            charts.append(Chart(f"{check}-{metric}", title, lines, bands))
    volume = [
        {"label": "events", "values": [p.n_events for p in points], "kind": "value"},
        {"label": "labelled", "values": [p.n_labels for p in points], "kind": "secondary"},
    ]
    charts.append(Chart("volume", "window volume", volume))
    return charts


def chart_resolution(
    window_seconds: int, since: datetime | None, until: datetime | None, points: int, now: datetime
) -> int | None:
    """The bucket (seconds) that charts [since, until) of a monitor in at most ``points``
    points, or None when its windows themselves fit (and when no range is asked for: the
    newest windows are charted)."""
    if since is None:
        return None
    span = ((until or now) - since).total_seconds()
    if span <= window_seconds * points:
        return None
    for size in (runs.ROLLUP_HOUR, runs.ROLLUP_DAY):
        if size > window_seconds and span <= size * points:
            return size
    return runs.ROLLUP_DAY if window_seconds < runs.ROLLUP_DAY else None


def _rollup_series(
    buckets: list[runs.Rollup],
) -> tuple[
    list[Point],
    list[runs.MetricSeries],
    dict[tuple[str, str], tuple[list[float | None], list[float | None]]],
]:
    """Each bucket as a chart point: every metric's mean over its windows (and mean threshold),
    with the lowest and highest window beside."""
    points = [Point(i, b.n_events, b.n_labels) for i, b in enumerate(buckets)]
    cells: dict[tuple[str, str], list[tuple[int, tuple[float, float, float, float | None]]]] = {}
    for i, b in enumerate(buckets):
        for check, metrics in b.metrics.items():
            for metric in metrics:
                stats = b.stats(check, metric)
                if stats is not None:
                    cells.setdefault((check, metric), []).append((i, stats))
    series, spread = [], {}
    for (check, metric), got in cells.items():
        series.append(
            runs.MetricSeries(
                check, metric, [i for i, _ in got], [s[0] for _, s in got],
                [s[3] for _, s in got],
            )
        )  # fmt: skip
        low: list[float | None] = [None] * len(buckets)
        high: list[float | None] = [None] * len(buckets)
        for i, s in got:
            low[i], high[i] = s[1], s[2]
        spread[(check, metric)] = (low, high)
    return points, series, spread


@dataclass
class MonitorPanel:
    """A monitor on its model's page: its baseline, windows and charts."""

    row: MonitorRow
    baseline: Baseline | None
    windows: list[runs.RunBrief]
    charts: list[Chart]
    # What the page's script draws: the time axis and run ids (or, for hours and days, the
    # links that zoom into each) once, then every chart.
    chart_data: dict[str, Any]
    # "hour" or "day" when the charts show a long range by hour or day, else None (windows).
    bucket: str | None = None
    # The monitor's LLM judges in its latest window (agreement with people beside each).
    judges: list["JudgeView"] = field(default_factory=list)


@dataclass
class ModelPage:
    """Everything on a model's page."""

    name: str
    panels: list[MonitorPanel]
    versions: list[Model]
    # Newest first: training -> validation -> production F1 and the dataset of each.
    scores: list[VersionScores] = field(default_factory=list)

    @property
    def summary(self) -> ModelRow:
        """The model as its fleet row sums it up (verdict, retraining flag)."""
        return ModelRow(self.name, [p.row for p in self.panels])


def _offline_metrics(versions: list[Model], monitor: Monitor) -> dict[str, float]:
    """The training and validation figures of the version the monitor watches (or of the
    newest version that reported any), as ``"<split> <metric>"``."""
    reported = [v for v in versions if v.training_metrics or v.validation_metrics]
    if monitor.model_version is not None:
        reported = [v for v in reported if v.version == monitor.model_version]
    if not reported:
        return {}
    v = max(reported, key=lambda r: r.created_at)
    out: dict[str, float] = {}
    for split, metrics in (("training", v.training_metrics), ("validation", v.validation_metrics)):
        for name, value in (metrics or {}).items():
            if isinstance(value, int | float):
                out[f"{split} {name}"] = float(value)
    return out


def _latest_judges(session: Session, row: MonitorRow) -> list["JudgeView"]:
    """The judges of a monitor that runs some, from its latest window's whole result (the
    latest runs are read with their checks' statuses only)."""
    if not row.monitor.judges or row.latest is None:
        return []
    run = runs.get_run(session, row.latest.run_id)
    return judge_views(RunResults.load(run.results)) if run is not None else []


def model_page(
    session: Session, project: int | None, name: str, *, windows: int = DEFAULT_CHART_WINDOWS,
    since: datetime | None = None, until: datetime | None = None,
) -> ModelPage | None:  # fmt: skip
    """A model's page, or None when the caller sees no such model. Each monitor's charts show
    its newest ``windows`` windows (of [since, until) when given), or, when the range holds
    more windows than that, its hours or days (``chart_resolution``) from the summaries."""
    found = monitors.list_monitors(session, project=project, model=name)
    versions = model_versions.versions_of(session, name, project=project)
    if not found and not versions:
        return None
    rows = monitor_rows(session, found, name)
    now = datetime.now(UTC)
    sizes = {m.id: chart_resolution(m.window_seconds, since, until, windows, now) for m in found}
    history = runs.recent_runs(
        session, [m.id for m in found if sizes[m.id] is None], per_monitor=windows,
        since=since, until=until,
    )  # fmt: skip
    # Monitors charted by hour or day still list their newest windows of the range.
    history |= runs.recent_runs(
        session, [m.id for m in found if sizes[m.id] is not None], per_monitor=RECENT_LISTED,
        since=since, until=until,
    )  # fmt: skip
    buckets = {
        size: runs.rollups(
            session,
            [m for m, s in sizes.items() if s == size],
            bucket_seconds=size,
            per_monitor=windows,
            since=since,
            until=until,
        )
        for size in {s for s in sizes.values() if s is not None}
    }
    baselines = baselines_by_id(session, [m.baseline_id for m in found])
    panels = []
    for row in rows:
        briefs = history.get(row.monitor.id, [])
        offline = _offline_metrics(versions, row.monitor)
        size = sizes[row.monitor.id]
        if size is None:
            series = runs.metric_series(session, [b.run_id for b in briefs])
            points = [Point(b.run_id, b.n_events, b.n_labels) for b in briefs]
            charts = _charts(points, series, offline)
            data = {
                "x": [b.window_start.timestamp() for b in briefs],
                "runs": [b.run_id for b in briefs],
            }
        else:
            got = buckets[size].get(row.monitor.id, [])
            points, series, spread = _rollup_series(got)
            charts = _charts(points, series, offline, spread)
            step = timedelta(seconds=size)
            data = {
                "x": [b.bucket_start.timestamp() for b in got],
                "links": [
                    f"?from={b.bucket_start:{_MINUTE}}&to={b.bucket_start + step:{_MINUTE}}"
                    for b in got
                ],
            }
        data["charts"] = [{"series": c.series, "bands": c.bands} for c in charts]
        panels.append(
            MonitorPanel(
                row=row,
                baseline=baselines.get(row.monitor.baseline_id),
                windows=list(reversed(briefs[-RECENT_LISTED:])),
                charts=charts,
                chart_data=data,
                judges=_latest_judges(session, row),
                bucket=None if size is None else ("hour" if size == runs.ROLLUP_HOUR else "day"),
            )
        )
    latest = [row.latest for row in rows if row.latest is not None]
    scores = model_versions.version_scores(session, name, latest) if versions else []
    return ModelPage(name=name, panels=panels, versions=versions, scores=scores)
