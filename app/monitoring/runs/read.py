"""Reading runs: the latest per monitor, recent windows, metric values and series, queues."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session, undefer

from app.db.models import Monitor, MonitorRun
from app.monitoring.results import (
    JUDGE_WORST_PATH,
    LABEL_QUEUE_PATH,
    TOP_NOVEL_PATH,
    RunResults,
    RunStatus,
)
from app.monitoring.runs.common import DONE, FINISHED_VALUES, INSUFFICIENT, PENDING, RUNNING

# The smallest span: windows holding an instant are those overlapping [ts, ts + 1 µs).
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True)
class LatestRun:
    """A monitor's run that speaks for it now (see ``latest_per_monitor``)."""

    run_id: int
    monitor_id: int
    model: str
    monitor: str
    status: RunStatus
    verdict: str | None
    retraining_recommended: bool
    n_events: int
    window_start: datetime
    window_end: datetime
    # Each check's status and the sample size only (``get_run`` has the whole result).
    results: RunResults
    n_labels: int = 0
    # The row's version (PostgreSQL's xmin): it changes whenever the run is stored again,
    # in the transaction that replaces its metric values — what a cache of them keys on.
    version: int = 0

    @property
    def report_url(self) -> str | None:
        """The report's path; only windows with data have one."""
        return report_url(self.run_id, self.status)


@dataclass(frozen=True)
class LatestKey:
    """Which run speaks for a monitor now, and the version of it (``LatestRun.version``)."""

    run_id: int
    version: int
    model: str
    monitor: str


def report_url(run_id: int, status: str) -> str | None:
    """``/v1/runs/{id}/report`` for a finished window with data, else None."""
    return f"/v1/runs/{run_id}/report" if status == DONE else None


# Per monitor: its newest window with data, else its newest insufficient one. A quiet window
# after a drift must not hide the drift; with no data at all, insufficient_data says so.
_LATEST = """
    SELECT coalesce(d.id, i.id) AS id FROM monitors m
    LEFT JOIN LATERAL (SELECT id FROM monitor_runs WHERE monitor_id = m.id AND status = :done
                       ORDER BY window_start DESC LIMIT 1) d ON true
    LEFT JOIN LATERAL (SELECT id FROM monitor_runs WHERE monitor_id = m.id
                       AND status = :insufficient AND d.id IS NULL
                       ORDER BY window_start DESC LIMIT 1) i ON true
    WHERE (CAST(:model AS text) IS NULL OR m.model = :model)
      AND coalesce(d.id, i.id) IS NOT NULL
"""


_LATEST_COLUMNS = (
    "SELECT r.id, r.monitor_id, m.model, m.name, r.status, r.verdict, "
    "r.retraining_recommended, r.n_events, r.window_start, r.window_end, r.n_labels, "
    "CAST(CAST(r.xmin AS text) AS bigint) AS version, "
    # Only each check's status and the sample size: every scrape reads every monitor's latest
    # run, and the details (per-class F1, drifted columns, novel ids...) are most of a result.
    "jsonb_build_object('checks', (SELECT jsonb_object_agg(c.key, "
    "jsonb_build_object('status', c.value->'status')) FROM jsonb_each(r.results->'checks') c), "
    "'sampled_events', r.results->'sampled_events') AS results "
    "FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id "
)
_LATEST_RUNS = text(
    f"WITH latest AS ({_LATEST}) {_LATEST_COLUMNS}"
    "WHERE r.id IN (SELECT id FROM latest) ORDER BY r.monitor_id"
)
# Runs already chosen by ``latest_keys``: read by id, without choosing the latest again.
_CHOSEN_RUNS = text(f"{_LATEST_COLUMNS}WHERE r.id = ANY(:ids) ORDER BY r.monitor_id")
_LATEST_KEYS = text(
    f"WITH latest AS ({_LATEST}) "
    "SELECT r.id, CAST(CAST(r.xmin AS text) AS bigint), m.model, m.name "
    "FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id "
    "WHERE r.id IN (SELECT id FROM latest) ORDER BY r.monitor_id"
)


def latest_keys(conn: Connection | Session) -> list[LatestKey]:
    """Every monitor's latest run (``latest_per_monitor``'s rule) as a key only: what a
    cache of their series checks before reading any run in full."""
    rows = conn.execute(_LATEST_KEYS, {"model": None, "done": DONE, "insufficient": INSUFFICIENT})
    return [LatestKey(*r) for r in rows]


def latest_per_monitor(
    conn: Connection | Session,
    *,
    model: str | None = None,
    run_ids: Sequence[int] | None = None,
) -> list[LatestRun]:
    """The run that speaks for each monitor now (of one model, or all): its newest window
    with data, else its newest window without enough. ``run_ids``: those runs, as chosen
    by ``latest_keys`` (read by id, the rule not applied again)."""
    if run_ids is None:
        params = {"model": model, "done": DONE, "insufficient": INSUFFICIENT}
        rows = conn.execute(_LATEST_RUNS, params).all()
    elif run_ids:
        rows = conn.execute(_CHOSEN_RUNS, {"ids": list(run_ids)}).all()
    else:
        return []
    return [
        LatestRun(
            run_id=r.id,
            monitor_id=r.monitor_id,
            model=r.model,
            monitor=r.name,
            status=RunStatus(r.status),
            verdict=r.verdict,
            retraining_recommended=bool(r.retraining_recommended),
            n_events=r.n_events or 0,
            window_start=r.window_start,
            window_end=r.window_end,
            results=RunResults.load(r.results),
            n_labels=r.n_labels or 0,
            version=r.version,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class RunBrief:
    """A run without its results: enough to draw it in a strip or a time axis."""

    run_id: int
    monitor_id: int
    window_start: datetime
    window_end: datetime
    status: RunStatus
    verdict: str | None
    retraining_recommended: bool
    n_events: int | None
    n_labels: int | None


_BRIEF_COLUMNS = (
    "r.id, r.monitor_id, r.window_start, r.window_end, r.status, r.verdict, "
    "r.retraining_recommended, r.n_events, r.n_labels"
)


def _briefs(rows: Iterable[Any]) -> list[RunBrief]:
    return [
        RunBrief(r[0], r[1], r[2], r[3], RunStatus(r[4]), r[5], bool(r[6]), r[7], r[8])
        for r in rows
    ]


def recent_runs(
    conn: Connection | Session, monitor_ids: Sequence[int], *, per_monitor: int,
    since: datetime | None = None, until: datetime | None = None,
) -> dict[int, list[RunBrief]]:  # fmt: skip
    """Each monitor's newest ``per_monitor`` windows (oldest first), of those overlapping
    [since, until) when given: one index range scan per monitor on ``(monitor_id,
    window_start)`` however long its history."""
    if not monitor_ids:
        return {}
    rows = conn.execute(
        text(
            f"SELECT {_BRIEF_COLUMNS} FROM unnest(CAST(:ids AS int[])) AS m(id) "
            "CROSS JOIN LATERAL (SELECT * FROM monitor_runs WHERE monitor_id = m.id "
            "AND (CAST(:until AS timestamptz) IS NULL OR window_start < :until) "
            "AND (CAST(:since AS timestamptz) IS NULL OR window_end > :since) "
            "ORDER BY window_start DESC LIMIT :n) r ORDER BY r.monitor_id, r.window_start"
        ),
        {"ids": list(monitor_ids), "n": per_monitor, "since": since, "until": until},
    )
    out: dict[int, list[RunBrief]] = {}
    for brief in _briefs(rows):
        out.setdefault(brief.monitor_id, []).append(brief)
    return out


def neighbour_runs(session: Session, run: MonitorRun) -> tuple[int | None, int | None]:
    """The ids of the monitor's windows just before and just after ``run``'s."""
    row = session.execute(
        text(
            "SELECT (SELECT id FROM monitor_runs WHERE monitor_id = :m AND window_start < :s "
            "        ORDER BY window_start DESC LIMIT 1), "
            "       (SELECT id FROM monitor_runs WHERE monitor_id = :m AND window_start > :s "
            "        ORDER BY window_start LIMIT 1)"
        ),
        {"m": run.monitor_id, "s": run.window_start},
    ).one()
    return row[0], row[1]


@dataclass(frozen=True)
class StoredMetric:
    """One row of ``metric_values``."""

    run_id: int
    check: str
    metric: str
    feature: str | None
    value: float
    threshold: float | None
    status: str | None


def metric_values(
    conn: Connection | Session,
    run_ids: Sequence[int],
    *,
    check: str | None = None,
    metric: str | None = None,
) -> list[StoredMetric]:
    """The numbers (non-null) the given runs produced; only one check's or metric's when
    given."""
    if not run_ids:
        return []
    rows = conn.execute(
        text(
            'SELECT run_id, "check", metric, feature, value, threshold, status '
            "FROM metric_values WHERE run_id = ANY(:ids) AND value IS NOT NULL "
            'AND (CAST(:check AS text) IS NULL OR "check" = :check) '
            "AND (CAST(:metric AS text) IS NULL OR metric = :metric)"
        ),
        {"ids": list(run_ids), "check": check, "metric": metric},
    )
    return [StoredMetric(*r) for r in rows]


@dataclass(frozen=True)
class MetricSeries:
    """One window-level number of one check across runs (parallel lists)."""

    check: str
    metric: str
    run_ids: list[int]
    values: list[float]
    thresholds: list[float | None]


def metric_series(conn: Connection | Session, run_ids: Sequence[int]) -> list[MetricSeries]:
    """Each window-level number (no per-column or per-class values) of the given runs as one
    series per check and metric: aggregated in PostgreSQL from a covering partial index
    (``ix_metric_values_window_level``), so a page charting thousands of windows reads a few
    dozen rows, not one per number, and never the per-column values beside them."""
    if not run_ids:
        return []
    rows = conn.execute(
        text(
            'SELECT "check", metric, array_agg(run_id), array_agg(value), array_agg(threshold) '
            "FROM metric_values WHERE run_id = ANY(:ids) AND value IS NOT NULL "
            'AND feature IS NULL GROUP BY "check", metric'
        ),
        {"ids": list(run_ids)},
    )
    return [MetricSeries(*r) for r in rows]


@dataclass(frozen=True)
class MonitorActivity:
    """An enabled monitor's liveness figures and error record."""

    model: str
    monitor: str
    window_seconds: int
    delay_seconds: int
    created: float
    last_finished: float | None
    error_count: int


def monitor_activity(conn: Connection) -> list[MonitorActivity]:
    """Every enabled monitor with the last time any window of it finished (with data or
    without: the worker was alive) and its error count."""
    rows = conn.execute(
        text(
            "SELECT m.model, m.name, m.window_seconds, m.delay_seconds, "
            "extract(epoch FROM m.created_at), "
            "(SELECT extract(epoch FROM max(r.finished_at)) FROM monitor_runs r "
            " WHERE r.monitor_id = m.id AND r.status = ANY(:finished)), m.error_count "
            "FROM monitors m WHERE m.enabled ORDER BY m.id"
        ),
        {"finished": FINISHED_VALUES},
    )
    return [
        MonitorActivity(
            r[0], r[1], r[2], r[3], float(r[4]), float(r[5]) if r[5] else None, int(r[6])
        )
        for r in rows
    ]


def queue_counts(conn: Connection) -> dict[RunStatus, int]:
    """How many runs wait (pending) and are being computed (running)."""
    row = conn.execute(
        text(
            "SELECT count(*) FILTER (WHERE status = :pending), "
            "count(*) FILTER (WHERE status = :running) FROM monitor_runs "
            "WHERE status IN (:pending, :running)"
        ),
        {"pending": PENDING, "running": RUNNING},
    ).one()
    return {RunStatus.PENDING: int(row[0]), RunStatus.RUNNING: int(row[1])}


def get_run(session: Session, run_id: int, *, with_report: bool = False) -> MonitorRun | None:
    """One run (its HTML report loaded only when asked)."""
    stmt = select(MonitorRun).where(MonitorRun.id == run_id)
    if with_report:
        stmt = stmt.options(undefer(MonitorRun.report))
    return session.scalars(stmt).first()


def model_of(session: Session, run: MonitorRun) -> str:
    """The model a run's monitor watches."""
    return str(session.scalars(select(Monitor.model).where(Monitor.id == run.monitor_id)).one())


def list_runs(
    session: Session, monitor_id: int, *, limit: int, before: datetime | None = None
) -> list[MonitorRun]:
    """A monitor's runs, newest window first; those of windows starting before ``before``
    when given (the next page: ``(monitor_id, window_start)`` is unique and indexed)."""
    stmt = (
        select(MonitorRun)
        .where(MonitorRun.monitor_id == monitor_id)
        .order_by(MonitorRun.window_start.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(MonitorRun.window_start < before)
    return list(session.scalars(stmt))


def drifted_windows(
    session: Session, *, model: str, since: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """``(start, end)`` of the model's windows judged ``drift`` overlapping [since, until)."""
    rows = session.execute(
        text(
            "SELECT DISTINCT r.window_start, r.window_end FROM monitor_runs r "
            "JOIN monitors m ON m.id = r.monitor_id WHERE m.model = :model "
            "AND r.verdict = 'drift' AND r.window_start < :until AND r.window_end > :since "
            "ORDER BY r.window_start"
        ),
        {"model": model, "since": since, "until": until},
    )
    return [(r[0], r[1]) for r in rows]


def novel_request_ids(
    session: Session, *, model: str, since: datetime, until: datetime
) -> list[str]:
    """Request ids the long-tail check found most novel in the model's windows overlapping
    [since, until) (only that part of each result is read)."""
    rows = session.execute(
        text(
            "SELECT DISTINCT n->>'id' FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id "
            f"CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.results #> '{TOP_NOVEL_PATH}', "
            "'[]'::jsonb)) AS n WHERE m.model = :model AND r.window_start < :until "
            "AND r.window_end > :since AND n->>'id' IS NOT NULL"
        ),
        {"model": model, "since": since, "until": until},
    )
    return [r[0] for r in rows]


# What in a window's result can single out one event: the request ids, with why, of the
# long tail's most novel events, the label queue's picks and the answers each judge failed.
# One SQL over the overlapping windows reads only these parts of each result.
_FLAGS = f"""
    SELECT r.id AS run_id, r.window_start, 'long_tail' AS check_name, n->>'id' AS request_id,
           'among the most novel events (score ' || coalesce(n->>'score', '?') || ')' AS why
    FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id
    CROSS JOIN LATERAL jsonb_array_elements(
        coalesce(r.results #> '{TOP_NOVEL_PATH}', '[]'::jsonb)) AS n
    WHERE m.model = :model AND r.window_start < :until AND r.window_end > :since
    UNION ALL
    SELECT r.id, r.window_start, 'label_queue', q->>'request_id',
           'picked for a human label (' || coalesce(
               (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(q->'reasons') AS x),
               'ranked') || ')'
    FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id
    CROSS JOIN LATERAL jsonb_array_elements(
        coalesce(r.results #> '{LABEL_QUEUE_PATH}', '[]'::jsonb)) AS q
    WHERE m.model = :model AND r.window_start < :until AND r.window_end > :since
    UNION ALL
    SELECT r.id, r.window_start, 'judge', w->>'id',
           'judge ' || j.key || ' failed it: ' || coalesce(w->>'reason', 'no reason given')
    FROM monitor_runs r JOIN monitors m ON m.id = r.monitor_id
    CROSS JOIN LATERAL jsonb_each(coalesce(r.results #> '{JUDGE_WORST_PATH}', '{{}}'::jsonb)) AS j
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE jsonb_typeof(j.value) WHEN 'array' THEN j.value ELSE '[]'::jsonb END) AS w
    WHERE m.model = :model AND r.window_start < :until AND r.window_end > :since
"""


@dataclass(frozen=True)
class Flag:
    """A window's result singling an event out: which check and why."""

    run_id: int
    window_start: datetime
    check: str
    why: str


def event_flags(session: Session, *, model: str, request_id: str, ts: datetime) -> list[Flag]:
    """What the windows holding the event (one per monitor of its model) said about it."""
    rows = session.execute(
        text(f"SELECT * FROM ({_FLAGS}) AS f WHERE request_id = :rid ORDER BY window_start"),
        {"model": model, "since": ts, "until": ts + _INSTANT, "rid": request_id},
    )
    return [Flag(r.run_id, r.window_start, r.check_name, r.why) for r in rows]


def flagged_request_ids(
    session: Session, *, model: str, since: datetime, until: datetime
) -> list[str]:
    """Request ids any check singled out in the model's windows overlapping [since, until)."""
    rows = session.execute(
        text(f"SELECT DISTINCT request_id FROM ({_FLAGS}) AS f WHERE request_id IS NOT NULL"),
        {"model": model, "since": since, "until": until},
    )
    return [r[0] for r in rows]
