"""What each UI page shows, gathered in a bounded number of queries (runs through
``app.monitoring.runs``, examples through ``app.exports``): the fleet in four queries whatever
its size, a model's history through two index range scans per monitor."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from app.api.feedback.schemas import FeedbackIn
from app.baselines.service import baselines_by_id, prediction_mix
from app.db.models import Baseline, Model, Monitor
from app.engine.results import SEVERITY, VERDICT_STATUSES, Status
from app.errors import DriftlineError
from app.events import browse
from app.exports.label_queue import label_queue
from app.exports.retraining import retraining_examples
from app.fields import as_utc
from app.models import versions as model_versions
from app.models.versions import VersionScores
from app.monitoring import monitors, runs
from app.monitoring.results import NO_DATA, RunResults, worst_verdict

# Windows in a fleet row's verdict strip, and the most a model page charts per monitor.
STRIP_WINDOWS = 24
DEFAULT_CHART_WINDOWS = 500
MAX_CHART_WINDOWS = 5_000
# Examples listed on a window page, per kind.
EXAMPLES_SHOWN = 20

# Worst first: the order of the fleet page and of the verdict filter.
VERDICTS = [
    *sorted(
        (s.value for s in VERDICT_STATUSES),
        key=lambda v: -SEVERITY[Status(v)],
    ),
    NO_DATA,
]


def severity(verdict: str | None) -> int:
    """Sort key: higher is worse; a model with no verdict yet sorts after every verdict."""
    return SEVERITY[Status(verdict)] if verdict and verdict != NO_DATA else -1


@dataclass
class MonitorRow:
    """One monitor in a fleet row or on a model page."""

    monitor: Monitor
    latest: runs.LatestRun | None
    strip: list[runs.RunBrief]


@dataclass
class ModelRow:
    """One model on the fleet page."""

    name: str
    monitors: list[MonitorRow] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The worst monitor's verdict."""
        return worst_verdict([m.latest.verdict if m.latest else None for m in self.monitors])

    @property
    def retraining(self) -> bool:
        """Whether any monitor's latest window recommends retraining."""
        return any(m.latest and m.latest.retraining_recommended for m in self.monitors)

    @property
    def last_window_end(self) -> datetime | None:
        """When the newest computed window (of any monitor) closed."""
        ends = [m.latest.window_end for m in self.monitors if m.latest]
        return max(ends, default=None)

    @property
    def label_coverage(self) -> float | None:
        """Share of the latest windows' events that carry a label."""
        events = sum(m.latest.n_events for m in self.monitors if m.latest)
        labels = sum(m.latest.n_labels for m in self.monitors if m.latest)
        return labels / events if events else None


def _monitor_rows(
    session: Session, found: list[Monitor], model: str | None, *, strips: bool = True
) -> list[MonitorRow]:
    latest = {r.monitor_id: r for r in runs.latest_per_monitor(session, model=model)}
    rows = [MonitorRow(m, latest.get(m.id), []) for m in found]
    if strips:
        _add_strips(session, rows)
    return rows


def _add_strips(session: Session, rows: list[MonitorRow]) -> None:
    """Each row's recent windows (one index range per monitor: only for rows shown)."""
    recent = runs.recent_runs(session, [r.monitor.id for r in rows], per_monitor=STRIP_WINDOWS)
    for row in rows:
        row.strip = recent.get(row.monitor.id, [])


# Models per fleet page: the page stays one bounded answer however large the fleet.
FLEET_PAGE = 100


@dataclass
class FleetPage:
    """One page of the fleet, worst first, and whether more follow."""

    models: list[ModelRow]
    page: int
    more: bool
    total: int


def fleet(
    session: Session,
    project: int | None,
    verdict: str | None = None,
    *,
    search: str | None = None,
    page: int = 0,
) -> FleetPage:
    """The models the caller sees (from traffic, registrations or monitors), worst first,
    optionally only names containing ``search``; one page of ``FLEET_PAGE``."""
    wanted = (search or "").casefold()
    found = [
        m for m in monitors.list_monitors(session, project=project, model=None)
        if wanted in m.model.casefold()
    ]  # fmt: skip
    # The order needs each monitor's latest window only; strips are read for the page shown.
    monitored: dict[str, ModelRow] = {}
    for row in _monitor_rows(session, found, None, strips=False):
        monitored.setdefault(row.monitor.model, ModelRow(row.monitor.model)).monitors.append(row)
    # Models with a verdict (at most one per monitor) sort worst first here; the rest — no
    # window yet, or no monitor: most models of a large fleet — follow by name, a page read
    # from the database, so the work stays one page's however many models are registered.
    graded = sorted(
        (r for r in monitored.values() if r.verdict != NO_DATA),
        key=lambda r: (-severity(r.verdict), r.name),
    )
    if verdict and verdict != NO_DATA:
        graded = [r for r in graded if r.verdict == verdict]
    start = page * FLEET_PAGE
    shown = [] if verdict == NO_DATA else graded[start : start + FLEET_PAGE]
    skipped = 0 if verdict == NO_DATA else len(graded)
    tail_total = 0
    if not verdict or verdict == NO_DATA:
        names, tail_total = model_versions.name_page(
            session, project=project, search=search,
            also=[n for n, r in monitored.items() if r.verdict == NO_DATA],
            without=[r.name for r in graded], offset=max(0, start - skipped),
            limit=FLEET_PAGE - len(shown),
        )  # fmt: skip
        shown += [monitored.get(name) or ModelRow(name) for name in names]
    total = skipped + tail_total
    _add_strips(session, [m for row in shown for m in row.monitors])
    return FleetPage(shown, page, total > start + FLEET_PAGE, total)


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


def _chart_order(key: tuple[str, str]) -> tuple[int, str, str]:
    check, metric = key
    rank = _CHECK_ORDER.index(check) if check in _CHECK_ORDER else len(_CHECK_ORDER)
    return rank, check, metric


def _charts(
    briefs: list[runs.RunBrief], series: list[runs.MetricSeries], offline: dict[str, float]
) -> list[Chart]:
    """Per check: each window-level metric that has a threshold (value vs threshold); quality
    metrics with their confidence band, the baseline's value, and the version's training and
    validation figures; and the window volume."""
    index = {b.run_id: i for i, b in enumerate(briefs)}
    n = len(briefs)
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
    for (check, metric), ys in sorted(grid.items(), key=lambda kv: _chart_order(kv[0])):
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
            charts.append(
                Chart(
                    f"{check}-{metric}",
                    title,
                    [{"label": metric, "values": ys, "kind": "value"}, limit],
                )
            )
    volume = [
        {"label": "events", "values": [b.n_events for b in briefs], "kind": "value"},
        {"label": "labelled", "values": [b.n_labels for b in briefs], "kind": "secondary"},
    ]
    charts.append(Chart("volume", "window volume", volume))
    return charts


@dataclass
class MonitorPanel:
    """A monitor on its model's page: its baseline, windows and charts."""

    row: MonitorRow
    baseline: Baseline | None
    windows: list[runs.RunBrief]
    charts: list[Chart]
    # What the page's script draws: the time axis and run ids once, then every chart.
    chart_data: dict[str, Any]
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
    return _judge_views(RunResults.load(run.results)) if run is not None else []


def model_page(
    session: Session, project: int | None, name: str, *, windows: int = DEFAULT_CHART_WINDOWS,
    since: datetime | None = None, until: datetime | None = None,
) -> ModelPage | None:  # fmt: skip
    """A model's page (its charts: the newest ``windows`` windows overlapping [since, until)
    when given), or None when the caller sees no such model."""
    found = monitors.list_monitors(session, project=project, model=name)
    versions = model_versions.versions_of(session, name, project=project)
    if not found and not versions:
        return None
    rows = _monitor_rows(session, found, name)
    history = runs.recent_runs(
        session, [m.id for m in found], per_monitor=windows, since=since, until=until
    )
    baselines = baselines_by_id(session, [m.baseline_id for m in found])
    panels = []
    for row in rows:
        briefs = history.get(row.monitor.id, [])
        series = runs.metric_series(session, [b.run_id for b in briefs])
        charts = _charts(briefs, series, _offline_metrics(versions, row.monitor))
        data = {
            "x": [b.window_start.timestamp() for b in briefs],
            "runs": [b.run_id for b in briefs],
            "charts": [{"series": c.series, "bands": c.bands} for c in charts],
        }
        panels.append(
            MonitorPanel(
                row=row,
                baseline=baselines.get(row.monitor.baseline_id),
                windows=list(reversed(briefs[-50:])),
                charts=charts,
                chart_data=data,
                judges=_latest_judges(session, row),
            )
        )
    latest = [row.latest for row in rows if row.latest is not None]
    scores = model_versions.version_scores(session, name, latest) if versions else []
    return ModelPage(name=name, panels=panels, versions=versions, scores=scores)


@dataclass
class WindowPage:
    """Everything on a window's page."""

    run: Any  # the MonitorRun
    monitor: Monitor
    results: RunResults
    previous: int | None
    next: int | None
    novel: list[dict[str, Any]]
    mislabelled: list[dict[str, Any]]
    judges: list["JudgeView"] = field(default_factory=list)

    @property
    def events_query(self) -> str:
        """The events page's query for this window's events."""
        return window_events_query(self.monitor.model, self.run.window_start, self.run.window_end)


@dataclass
class JudgeView:
    """One LLM judge's figures for a window, and the answers it failed with its reasons."""

    name: str
    status: str
    version: int | None
    figures: dict[str, float | None]
    worst: list[dict[str, Any]]


# What the window page shows of each judge (absent ones are shown as such).
_JUDGE_FIGURES = (
    "pass_rate", "pass_rate_low", "pass_rate_high", "pass_rate_baseline", "pass_rate_pooled",
    "judged", "failed_calls", "budget_exhausted", "unstable", "anchor_changed_share",
    "agreement_n", "agreement_kappa", "agreement_spearman",
)  # fmt: skip


def _judge_views(
    results: RunResults, session: Session | None = None, span: dict[str, Any] | None = None
) -> list[JudgeView]:
    """Each judge's figures in a run; with a session, the answers it failed too."""
    check = results.checks.get("judge")
    if check is None:
        return []
    worst = check.details.get("worst") or {}
    wanted = {str(w["id"]) for ws in worst.values() for w in ws[:EXAMPLES_SHOWN]}
    events = {}
    if session is not None and span is not None and wanted:
        events = {
            e["request_id"]: e
            for e in retraining_examples(session, **span, reasons=("judge_failed",))
            if e["request_id"] in wanted
        }
    views = []
    for name, summary in (check.details.get("judges") or {}).items():
        figures = dict.fromkeys(_JUDGE_FIGURES) | {
            m["name"]: m["value"] for m in check.metrics if m.get("feature") == name
        }
        failed = [
            {**events[str(w["id"])], "judge_reason": w.get("reason") or ""}
            for w in (worst.get(name) or [])[:EXAMPLES_SHOWN]
            if str(w["id"]) in events
        ]
        views.append(
            JudgeView(name, str(summary.get("status", "")), summary.get("version"), figures, failed)
        )
    return views


def window_page(session: Session, run: Any) -> WindowPage:
    """A window's page for a run the caller may see."""
    monitor = monitors.get_monitor(session, run.monitor_id, project=None)
    results = RunResults.load(run.results)
    previous, following = runs.neighbour_runs(session, run)
    novel: list[dict[str, Any]] = []
    mislabelled: list[dict[str, Any]] = []
    judges: list[JudgeView] = []
    if results.checks:
        span = {"model": monitor.model, "since": run.window_start, "until": run.window_end}
        judges = _judge_views(results, session, span)
        mislabelled = list(
            retraining_examples(session, **span, reasons=("wrong_label",), limit=EXAMPLES_SHOWN)
        )
        wanted = set(results.top_novel_ids()[:EXAMPLES_SHOWN])
        if wanted:
            novel = [
                e
                for e in retraining_examples(session, **span, reasons=("novel",))
                if e["request_id"] in wanted
            ][:EXAMPLES_SHOWN]
    return WindowPage(run, monitor, results, previous, following, novel, mislabelled, judges)


# ---- the events page -------------------------------------------------------------------------

# The events page's quick time ranges (the default is the first that is a day).
EVENT_RANGES = (
    ("last hour", timedelta(hours=1)), ("last 24 hours", timedelta(days=1)),
    ("last 7 days", timedelta(days=7)), ("last 31 days", browse.MAX_RANGE),
)  # fmt: skip
DEFAULT_EVENT_RANGE = timedelta(days=1)
# How much of a prompt or an output a row of the events table shows.
EXCERPT_CHARS = 160
# The form's time fields: minutes in UTC, as <input type="datetime-local"> writes them.
FORM_MINUTE = "%Y-%m-%dT%H:%M"


@dataclass
class EventsForm:
    """The events page's filters as typed (kept in the form and the pager's links)."""

    model: str = ""
    start: str = ""
    end: str = ""
    version: str = ""
    prediction: str = ""
    label: str = ""
    labelled: str = ""  # "", "yes" or "no"
    scored: str = ""
    flagged: str = ""
    metadata: str = ""  # key:value
    q: str = ""

    def query(self, **changes: str) -> str:
        """The page's query string for these filters (empty ones left out)."""
        values = {**self.__dict__, **changes}
        values["from"], values["to"] = values.pop("start"), values.pop("end")
        return urlencode({k: v for k, v in values.items() if v})


def parse_moment(value: str, field_name: str) -> datetime:
    """A time from the form (``datetime-local`` minutes or ISO 8601; naive is UTC); 422
    naming the field otherwise."""
    try:
        return as_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise DriftlineError(
            422, "invalid_time", f"{field_name!r} is not a time: use YYYY-MM-DDTHH:MM (UTC)"
        ) from None


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def event_filter(form: EventsForm, now: datetime) -> browse.EventFilter:
    """The filter the form asks for: by default the day before ``now``."""
    end = parse_moment(form.end, "to") if form.end else now
    start = parse_moment(form.start, "from") if form.start else end - DEFAULT_EVENT_RANGE
    metadata = browse.metadata_pairs([form.metadata.strip()]) if form.metadata.strip() else {}
    search = form.q.strip() or None
    if search is not None and len(search) < 2:
        raise DriftlineError(422, "invalid_search", "search for at least 2 characters")
    return browse.EventFilter(
        model=form.model, start=start, end=end, version=form.version or None,
        prediction=form.prediction or None, label=form.label or None,
        has_label=_yes_no(form.labelled), has_score=_yes_no(form.scored),
        flagged=_yes_no(form.flagged), metadata=metadata, search=search,
    )  # fmt: skip


def excerpt(text: str | None) -> str:
    """The start of a prompt or output for a table cell."""
    if text is None:
        return ""
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "\u2026"


def window_events_query(model: str, start: datetime, end: datetime) -> str:
    """The events page's query string for one window's events."""
    form = EventsForm(model=model, start=start.strftime(FORM_MINUTE), end=end.strftime(FORM_MINUTE))
    return form.query()


# ---- labelling in the browser ----------------------------------------------------------------


@dataclass
class LabelView:
    """The label queue's next event for a person to answer, and where it stands."""

    run: Any  # the MonitorRun
    monitor: Monitor
    item: dict[str, Any] | None  # None: nothing left after ``after``
    position: int  # 1-based place of ``item`` among the open ones
    remaining: int  # open items in all
    classes: list[str]  # the classes to pick from: the queue's predicted classes


def label_view(
    session: Session, run: Any, model: str, *, after: str | None = None, at: str | None = None
) -> LabelView:
    """The first still-unlabelled event of the run's label queue after ``after`` (a request
    id already answered or skipped; None: from the start), or ``at`` itself while it is
    open (an answer to correct)."""
    monitor = monitors.get_monitor(session, run.monitor_id, project=None)
    queue = label_queue(session, run, model)  # open items, in the queue's order
    # Ranks in the whole queue: ``after`` may have just been labelled (and left the open ones).
    rank = {p["request_id"]: i for i, p in enumerate(RunResults.load(run.results).label_queue)}
    passed = rank.get(at, 0) - 1 if at else rank.get(after, -1) if after else -1
    later = [i for i, row in enumerate(queue) if rank.get(row["request_id"], -1) > passed]
    start = later[0] if later else len(queue)
    item = queue[start] if start < len(queue) else None
    classes = sorted({str(r["prediction"]) for r in queue if r["prediction"] is not None})
    return LabelView(run, monitor, item, start + 1, len(queue), classes)


def in_label_queue(run: Any, request_id: str) -> bool:
    """Whether the run's label queue holds the event (answers are taken for those only)."""
    return any(p["request_id"] == request_id for p in RunResults.load(run.results).label_queue)


def label_answer(
    model: str, request_id: str, *, choice: str, label_text: str, reference: str, score: str,
    thumbs: str, source: str,
) -> FeedbackIn:  # fmt: skip
    """The labelling form's answer as feedback: a typed label wins over a picked class; a
    ValueError says in words what is wrong with it."""
    label = label_text.strip() or choice.strip() or None
    value: float | None = None
    if score.strip():
        try:
            value = float(score)
        except ValueError:
            raise ValueError(f"the score {score!r} is not a number") from None
        if not 0 <= value <= 1:
            raise ValueError(f"the score must be between 0 and 1 (not {score})")
    thumb = {"up": True, "down": False}.get(thumbs)
    if label is None and not reference.strip() and value is None and thumb is None:
        raise ValueError("pick a class, type a label or a reference, give a score or a thumb")
    return FeedbackIn(
        model=model, request_id=request_id, label=label, reference=reference.strip() or None,
        score=value, thumbs=thumb, source=source[:200],
    )  # fmt: skip


# ---- comparing two windows -------------------------------------------------------------------


@dataclass
class CompareSide:
    """One side of a comparison: a window, or (``run`` None) the baseline its monitor
    compares with."""

    monitor: Monitor
    run: Any | None  # the MonitorRun
    results: RunResults
    classes: dict[str, int]
    baseline: Baseline | None = None

    @property
    def events_query(self) -> str | None:
        """The events page's query for this window's events (None for the baseline)."""
        if self.run is None:
            return None
        return window_events_query(self.monitor.model, self.run.window_start, self.run.window_end)


@dataclass
class CompareRow:
    """A figure of both sides: a check's metric (of a column or class when ``feature``)."""

    check: str
    metric: str
    feature: str | None
    a: float | None
    b: float | None
    threshold: float | None

    @property
    def change(self) -> float | None:
        """B minus A, when both have it."""
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass
class ComparePage:
    """Two sides: checks, every stored figure, the class mix."""

    a: CompareSide
    b: CompareSide
    checks: list[tuple[str, Any, Any]]  # name, A's outcome, B's outcome (None: not run)
    rows: list[CompareRow]
    classes: list[tuple[str, float, float]]  # class, A's share, B's share


def _window_side(session: Session, run: Any) -> CompareSide:
    monitor = monitors.get_monitor(session, run.monitor_id, project=None)
    mix = browse.class_mix(
        session, monitor.model, monitor.model_version, run.window_start, run.window_end
    )
    return CompareSide(monitor, run, RunResults.load(run.results), mix)


def _compare(
    a: CompareSide, b: CompareSide, rows: dict[tuple[str, str, str | None], CompareRow]
) -> ComparePage:
    names = sorted(
        set(a.results.checks) | set(b.results.checks), key=lambda c: _chart_order((c, ""))[:2]
    )
    checks = [(n, a.results.checks.get(n), b.results.checks.get(n)) for n in names]
    ordered = sorted(
        rows.values(),
        key=lambda r: (*_chart_order((r.check, r.metric)), r.feature is not None, r.feature or ""),
    )
    total_a, total_b = sum(a.classes.values()) or 1, sum(b.classes.values()) or 1
    shares = [
        (c, a.classes.get(c, 0) / total_a, b.classes.get(c, 0) / total_b)
        for c in sorted(set(a.classes) | set(b.classes))
    ]
    return ComparePage(a, b, checks, ordered, sorted(shares, key=lambda s: -max(s[1], s[2])))


def compare_page(session: Session, run_a: Any, run_b: Any) -> ComparePage:
    """Two runs the caller may see, side by side (any two: a window and the one before, the
    same window of two monitors watching two versions, ...)."""
    a, b = _window_side(session, run_a), _window_side(session, run_b)
    rows: dict[tuple[str, str, str | None], CompareRow] = {}
    for m in runs.metric_values(session, [run_a.id, run_b.id]):
        key = (m.check, m.metric, m.feature)
        row = rows.setdefault(key, CompareRow(*key, a=None, b=None, threshold=None))
        if m.run_id == run_a.id:
            row.a = m.value
        if m.run_id == run_b.id:
            row.b = m.value
        row.threshold = m.threshold if m.threshold is not None else row.threshold
    return _compare(a, b, rows)


# A window's figure measured on its baseline too is stored beside it under this prefix.
BASELINE_PREFIX = "baseline_"


def compare_with_baseline(session: Session, run: Any) -> ComparePage:
    """A window beside the baseline its monitor compares with: the baseline's class mix (its
    records) and, for each figure the window stored the baseline's value of
    (``baseline_<figure>``), that value on the baseline's side."""
    b = _window_side(session, run)
    baseline = baselines_by_id(session, [b.monitor.baseline_id]).get(b.monitor.baseline_id)
    mix = prediction_mix(session, baseline.id) if baseline is not None else {}
    a = CompareSide(b.monitor, None, RunResults(), mix, baseline)
    stored = runs.metric_values(session, [run.id])
    of_baseline = {
        (m.check, m.metric[len(BASELINE_PREFIX) :], m.feature): m.value
        for m in stored
        if m.metric.startswith(BASELINE_PREFIX)
    }
    rows = {
        (m.check, m.metric, m.feature): CompareRow(
            m.check, m.metric, m.feature, of_baseline.get((m.check, m.metric, m.feature)),
            m.value, m.threshold,
        )
        for m in stored
        if not m.metric.startswith(BASELINE_PREFIX)
    }  # fmt: skip
    return _compare(a, b, rows)
