"""Windows summarised per hour and per day (``window_rollups``), for charts over long ranges.

A year of one-minute windows is 525,600 runs and ten million window-level numbers for one
monitor: charting a year from them means aggregating all of those on every page view
(``bench/horizon.py`` measures it). A window computed for the first time is added to its
hour's and its day's summaries (``add_to_rollups``: counts and sums grow, minima and maxima
move); a recomputed one (a late label, a backfill) refreshes its hour from that hour's windows
(a few dozen, read by index) and its day from that day's 24 hours (``refresh_rollups``): the
old numbers cannot be subtracted from a minimum. Either runs in the transaction that stores
the window — so a summary never disagrees with its windows, and reading a year is 365 rows.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from app.db.locks import lock_for_transaction
from app.monitoring.runs.common import DONE, INSUFFICIENT

# The advisory-lock namespace of rollup refreshes (any fixed 32-bit number).
_LOCKS = 0x0D71_0B0C
HOUR = 3600
DAY = 86400
# Buckets start on whole UTC hours and days.
_ORIGIN = "2001-01-01 00:00+00"

# A bucket's row, written whole: what refreshing and adding to a bucket both end with.
_INSERT_BUCKET = """INSERT INTO window_rollups (monitor_id, bucket_seconds, bucket_start, windows,
                            verdicts, n_events, n_labels, metrics)"""
_REPLACE_BUCKET = """ON CONFLICT (monitor_id, bucket_seconds, bucket_start) DO UPDATE SET
    windows = EXCLUDED.windows, verdicts = EXCLUDED.verdicts, n_events = EXCLUDED.n_events,
    n_labels = EXCLUDED.n_labels, metrics = EXCLUDED.metrics"""

# Each check's metrics as {metric: [count, sum, min, max, threshold sum, threshold count]},
# from ``v`` (one row per check and metric), and the row written for the bucket.
_WRITE = f"""
, by_check AS (
    SELECT "check", jsonb_object_agg(metric, jsonb_build_array(n, total, lo, hi, t_total, t_n))
           AS metrics
    FROM v GROUP BY "check"
)
{_INSERT_BUCKET}
SELECT :monitor, :size, CAST(:lo AS timestamptz), s.windows, coalesce(vd.verdicts, '{{}}'),
       s.n_events, s.n_labels, coalesce((SELECT jsonb_object_agg("check", metrics)
                                         FROM by_check), '{{}}')
FROM sums s, (SELECT jsonb_object_agg(verdict, n) AS verdicts FROM verdict_counts) vd
{_REPLACE_BUCKET}
"""
_FINITE = "{col} NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)"

# An hour from its windows (finished ones: with data or without enough).
_REFRESH_HOUR = text(
    f"""
    WITH w AS (
        SELECT r.id, coalesce(r.verdict, r.status) AS verdict, r.n_events, r.n_labels
        FROM monitor_runs r
        WHERE r.monitor_id = :monitor AND r.window_start >= :lo AND r.window_start < :hi
          AND r.status IN (:done, :insufficient)
    ), v AS (
        SELECT mv."check", mv.metric, count(*) AS n, sum(mv.value) AS total,
               min(mv.value) AS lo, max(mv.value) AS hi,
               coalesce(sum(mv.threshold) FILTER (WHERE {_FINITE.format(col="mv.threshold")}),
                        0) AS t_total,
               count(mv.threshold) FILTER (WHERE {_FINITE.format(col="mv.threshold")}) AS t_n
        FROM metric_values mv JOIN w ON w.id = mv.run_id
        WHERE mv.feature IS NULL AND mv.value IS NOT NULL AND {_FINITE.format(col="mv.value")}
        GROUP BY mv."check", mv.metric
    ), sums AS (
        SELECT count(*) AS windows, coalesce(sum(n_events), 0) AS n_events,
               coalesce(sum(n_labels), 0) AS n_labels FROM w
    ), verdict_counts AS (SELECT verdict, count(*) AS n FROM w GROUP BY verdict)
    {_WRITE}
    """
)
# A day from its hours.
_REFRESH_DAY = text(
    f"""
    WITH h AS (
        SELECT r.* FROM window_rollups r
        WHERE r.monitor_id = :monitor AND r.bucket_seconds = :hour
          AND r.bucket_start >= :lo AND r.bucket_start < :hi
    ), v AS (
        SELECT c.key AS "check", m.key AS metric,
               sum(CAST(m.value->>0 AS float8)) AS n, sum(CAST(m.value->>1 AS float8)) AS total,
               min(CAST(m.value->>2 AS float8)) AS lo, max(CAST(m.value->>3 AS float8)) AS hi,
               sum(CAST(m.value->>4 AS float8)) AS t_total,
               sum(CAST(m.value->>5 AS float8)) AS t_n
        FROM h, jsonb_each(h.metrics) c, jsonb_each(c.value) m
        GROUP BY c.key, m.key
    ), sums AS (
        SELECT coalesce(sum(windows), 0) AS windows, coalesce(sum(n_events), 0) AS n_events,
               coalesce(sum(n_labels), 0) AS n_labels FROM h
    ), verdict_counts AS (
        SELECT x.key AS verdict, sum(CAST(x.value AS int)) AS n
        FROM h, jsonb_each_text(h.verdicts) x GROUP BY x.key
    )
    {_WRITE}
    """
)


def refresh_rollups(conn: Connection, monitor_id: int, window_start: datetime) -> None:
    """Recompute the hour and the day holding the window starting at ``window_start`` (call
    it in the transaction that stores the window)."""
    # Two workers storing windows of one monitor at once would each summarise without the
    # other's window, and the later write would drop it: one at a time per monitor (each
    # statement then reads what the one before committed).
    lock_for_transaction(conn, _LOCKS, monitor_id)
    # The bucket's bounds are parameters, not computed in the statement: known when it is
    # planned, its windows are one index range (computed in SQL, the planner scanned every
    # window of the monitor: 14 ms a refresh at a year of one-minute windows).
    params: dict[str, Any] = {
        "monitor": monitor_id, "hour": HOUR, "done": DONE, "insufficient": INSUFFICIENT,
    }  # fmt: skip
    for statement, size in ((_REFRESH_HOUR, HOUR), (_REFRESH_DAY, DAY)):
        lo = bucket_start(window_start, size)
        conn.execute(
            statement, {**params, "size": size, "lo": lo, "hi": lo + timedelta(seconds=size)}
        )


_BUCKETS = text(
    "SELECT bucket_seconds, windows, verdicts, n_events, n_labels, metrics FROM window_rollups "
    "WHERE monitor_id = :monitor AND ((bucket_seconds = :hour AND bucket_start = :hour_start) "
    "OR (bucket_seconds = :day AND bucket_start = :day_start))"
)
_UPSERT_BUCKETS = text(
    f"{_INSERT_BUCKET} SELECT :monitor, * FROM unnest(CAST(:sizes AS int[]), "
    "CAST(:starts AS timestamptz[]), CAST(:windows AS int[]), CAST(:verdicts AS jsonb[]), "
    "CAST(:n_events AS bigint[]), CAST(:n_labels AS bigint[]), CAST(:metrics AS jsonb[])) "
    f"{_REPLACE_BUCKET}"
)
# One window-level metric's cell: [count, sum, min, max, threshold sum, threshold count].
Cell = list[float]


def _cells(values: Iterable[tuple[str, str, str | None, float | None, float | None]]
           ) -> dict[str, dict[str, Cell]]:  # fmt: skip
    """A window's cells from its (check, metric, feature, value, threshold) rows: what the
    hour's refresh would count of them (window-level, finite values; finite thresholds)."""
    cells: dict[str, dict[str, Cell]] = {}
    for check, metric, feature, value, threshold in values:
        if feature is not None or value is None or not math.isfinite(value):
            continue
        limit = threshold if threshold is not None and math.isfinite(threshold) else None
        one: Cell = [1, value, value, value, limit or 0.0, int(limit is not None)]
        mine = cells.setdefault(check, {})
        mine[metric] = _merged(mine[metric], one) if metric in mine else one
    return cells


def _merged(a: Cell, b: Cell) -> Cell:
    return [a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3]), a[4] + b[4], a[5] + b[5]]


def add_to_rollups(
    conn: Connection, monitor_id: int, window_start: datetime, *, verdict: str,
    n_events: int, n_labels: int,
    values: Iterable[tuple[str, str, str | None, float | None, float | None]],
) -> None:  # fmt: skip
    """Add a window computed for the first time (never counted in a summary) to its hour and
    its day: two statements of two rows, where refreshing re-aggregates the hour's windows'
    numbers and the day's hours (call it in the transaction that stores the window)."""
    lock_for_transaction(conn, _LOCKS, monitor_id)  # as refresh_rollups: one at a time
    starts = {HOUR: bucket_start(window_start, HOUR), DAY: bucket_start(window_start, DAY)}
    old = {
        r.bucket_seconds: r
        for r in conn.execute(
            _BUCKETS,
            {"monitor": monitor_id, "hour": HOUR, "day": DAY, "hour_start": starts[HOUR],
             "day_start": starts[DAY]},
        )
    }  # fmt: skip
    cells = _cells(values)
    columns: dict[str, list[Any]] = {
        k: [] for k in ("sizes", "starts", "windows", "verdicts", "n_events", "n_labels", "metrics")
    }
    for size, start in starts.items():
        before = old.get(size)
        verdicts = dict(before.verdicts) if before else {}
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        metrics = {c: dict(m) for c, m in before.metrics.items()} if before else {}
        for check, mine in cells.items():
            theirs = metrics.setdefault(check, {})
            for metric, cell in mine.items():
                theirs[metric] = _merged(theirs[metric], cell) if metric in theirs else cell
        for key, value in (
            ("sizes", size), ("starts", start), ("windows", (before.windows if before else 0) + 1),
            ("verdicts", orjson.dumps(verdicts).decode()),
            ("n_events", (before.n_events if before else 0) + n_events),
            ("n_labels", (before.n_labels if before else 0) + n_labels),
            ("metrics", orjson.dumps(metrics).decode()),
        ):  # fmt: skip
            columns[key].append(value)
    conn.execute(_UPSERT_BUCKETS, {"monitor": monitor_id, **columns})


def bucket_start(at: datetime, size: int) -> datetime:
    """The start of the hour or day (UTC) holding ``at``."""
    origin = datetime.fromisoformat(_ORIGIN)
    return origin + ((at - origin) // timedelta(seconds=size)) * timedelta(seconds=size)


@dataclass(frozen=True)
class Rollup:
    """The windows of one hour or day of one monitor."""

    monitor_id: int
    bucket_start: datetime
    bucket_seconds: int
    windows: int
    verdicts: dict[str, int]
    n_events: int
    n_labels: int
    # check → metric → [count, sum, min, max, threshold sum, threshold count]
    metrics: dict[str, dict[str, list[float]]]

    def stats(self, check: str, metric: str) -> tuple[float, float, float, float | None] | None:
        """(mean, min, max, mean threshold) of a metric over the bucket's windows."""
        cell = self.metrics.get(check, {}).get(metric)
        if not cell or not cell[0]:
            return None
        n, total, lo, hi, t_total, t_n = cell
        return total / n, lo, hi, (t_total / t_n if t_n else None)


def rollups(
    conn: Connection | Session, monitor_ids: Sequence[int], *, bucket_seconds: int,
    per_monitor: int, since: datetime | None = None, until: datetime | None = None,
) -> dict[int, list[Rollup]]:  # fmt: skip
    """Each monitor's newest ``per_monitor`` buckets of ``bucket_seconds`` (oldest first) that
    start in [since, until): one index range scan per monitor."""
    if not monitor_ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT r.monitor_id, r.bucket_start, r.bucket_seconds, r.windows, r.verdicts, "
            "r.n_events, r.n_labels, r.metrics FROM unnest(CAST(:ids AS int[])) AS m(id) "
            "CROSS JOIN LATERAL (SELECT * FROM window_rollups WHERE monitor_id = m.id "
            "AND bucket_seconds = :size "
            "AND (CAST(:since AS timestamptz) IS NULL OR bucket_start >= :since) "
            "AND (CAST(:until AS timestamptz) IS NULL OR bucket_start < :until) "
            "ORDER BY bucket_start DESC LIMIT :n) r ORDER BY r.monitor_id, r.bucket_start"
        ),
        {
            "ids": list(monitor_ids),
            "size": bucket_seconds,
            "until": until,
            "n": per_monitor,
            # The bucket holding ``since`` overlaps the range: it starts at or before it.
            "since": None if since is None else bucket_start(since, bucket_seconds),
        },
    )
    out: dict[int, list[Rollup]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(Rollup(*r))
    return out
