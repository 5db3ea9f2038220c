"""Two windows, or a window and its baseline, side by side."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.api.ui.views.events import window_events_query
from app.api.ui.views.model import chart_order
from app.baselines.service import baselines_by_id, prediction_mix
from app.db.models import Baseline, Monitor
from app.events import browse
from app.monitoring import monitors, runs
from app.monitoring.results import RunResults


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
        set(a.results.checks) | set(b.results.checks), key=lambda c: chart_order((c, ""))[:2]
    )
    checks = [(n, a.results.checks.get(n), b.results.checks.get(n)) for n in names]
    ordered = sorted(
        rows.values(),
        key=lambda r: (*chart_order((r.check, r.metric)), r.feature is not None, r.feature or ""),
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
