"""The fleet page: every model the caller sees, worst verdict first, a page at a time:
models with a verdict (at most one per monitor) ordered in memory, the rest by name from the
database, strips read only for the page shown."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from app.db.models import Monitor
from app.engine.results import SEVERITY, VERDICT_STATUSES, Status
from app.models import versions as model_versions
from app.monitoring import monitors, runs
from app.monitoring.results import NO_DATA, worst_verdict

# Windows in a fleet row's verdict strip.
STRIP_WINDOWS = 24

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


def monitor_rows(
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
    for row in monitor_rows(session, found, None, strips=False):
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
