"""A window's page: the verdict and why, every check, the judges, the examples."""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.api.ui.views.events import window_events_query
from app.db.models import Monitor
from app.exports.retraining import retraining_examples
from app.monitoring import monitors, runs
from app.monitoring.results import RunResults

# Examples listed on a window page, per kind.
EXAMPLES_SHOWN = 20


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


def judge_views(
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
        judges = judge_views(results, session, span)
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
