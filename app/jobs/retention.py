"""Retention: forget events and feedback older than ``DRIFTLINE_RETENTION_DAYS``.

Whole daily partitions of ``events`` older than the cutoff are dropped — no row-by-row delete,
no table bloat, no vacuum debt. Their idempotency keys and descriptors (small rows in
unpartitioned tables) are deleted first, in batches. Old rows in the default partition
(backfills) and in ``feedback`` are deleted in batches. The HTML reports (3-4 MB each) of
windows that old are dropped too; the runs' verdicts and metrics stay.
"""

import logging
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, TextClause, text

from app.db.partitions import DEFAULT_PARTITION, LOCK_TIMEOUT, day_partitions

log = logging.getLogger("driftline.retention")

# Small batches keep each transaction short, so ingestion never waits on a long delete.
_BATCH = 5_000


def _forget_keys_and_features(engine: Engine, table: str) -> int:
    """Delete the event_keys and event_features rows of a detached partition's events, in
    batches walking the event ids; returns how many events it held."""
    after, total = 0, 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                text(f"SELECT id, model, request_id FROM {table} WHERE id > :after "
                     "ORDER BY id LIMIT :n"),
                {"after": after, "n": _BATCH},
            ).all()  # fmt: skip
            if not rows:
                return total
            conn.execute(
                text(
                    "DELETE FROM event_keys k USING unnest(CAST(:m AS text[]), "
                    "CAST(:r AS text[])) AS x(model, request_id) "
                    "WHERE k.model = x.model AND k.request_id = x.request_id"
                ),
                {"m": [r.model for r in rows], "r": [r.request_id for r in rows]},
            )
            conn.execute(
                text("DELETE FROM event_features WHERE event_id = ANY(CAST(:ids AS bigint[]))"),
                {"ids": [r.id for r in rows]},
            )
        after, total = rows[-1].id, total + len(rows)


# Backfilled events in the default partition go row by row, with their keys and features in
# the same statement.
_DELETE_OLD_DEFAULT = text(
    f"""
    WITH gone AS (
        DELETE FROM {DEFAULT_PARTITION} WHERE id IN (
            SELECT id FROM {DEFAULT_PARTITION} WHERE ts < :cutoff LIMIT :n FOR UPDATE SKIP LOCKED
        ) RETURNING id, model, request_id
    ), keys AS (
        DELETE FROM event_keys k USING gone g
        WHERE k.model = g.model AND k.request_id = g.request_id
    ), features AS (
        DELETE FROM event_features f USING gone g WHERE f.event_id = g.id
    )
    SELECT count(*) FROM gone
    """
)
_DELETE_OLD_FEEDBACK = text(
    "DELETE FROM feedback WHERE id IN "
    "(SELECT id FROM feedback WHERE ts < :cutoff LIMIT :n FOR UPDATE SKIP LOCKED)"
)


def _in_batches(engine: Engine, statement: TextClause, cutoff: datetime) -> int:
    total = 0
    while True:
        with engine.begin() as conn:
            result = conn.execute(statement, {"cutoff": cutoff, "n": _BATCH})
            n = int(result.scalar_one()) if result.returns_rows else result.rowcount
        total += n
        if n < _BATCH:
            return total


def apply_retention(engine: Engine, *, days: int, now: datetime | None = None) -> dict[str, int]:
    """Forget what is older than ``days``; returns counts: partitions dropped, events (in
    them and in the default partition), feedback and reports."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    deleted = {"partitions": 0, "events": 0, "feedback": 0, "reports": 0}

    def wholly_old(day: date) -> bool:
        return datetime.combine(day + timedelta(days=1), time.min, UTC) <= cutoff

    with engine.connect() as conn:
        attached = day_partitions(conn)
        leftovers = day_partitions(conn, detached=True)
    for day, name in sorted(attached.items()):
        if wholly_old(day):
            # Detached first, so nothing new lands in it while its keys are deleted (a late
            # event for that day then goes to the default partition, handled below).
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                conn.execute(text(f"ALTER TABLE events DETACH PARTITION {name}"))
            leftovers[day] = name
    for day, name in sorted(leftovers.items()):
        if wholly_old(day):
            deleted["events"] += _forget_keys_and_features(engine, name)
            with engine.begin() as conn:
                conn.execute(text(f"DROP TABLE {name}"))
            deleted["partitions"] += 1

    deleted["events"] += _in_batches(engine, _DELETE_OLD_DEFAULT, cutoff)
    deleted["feedback"] = _in_batches(engine, _DELETE_OLD_FEEDBACK, cutoff)
    with engine.begin() as conn:
        deleted["reports"] = conn.execute(
            text(
                "UPDATE monitor_runs SET report = NULL "
                "WHERE window_end < :cutoff AND report IS NOT NULL"
            ),
            {"cutoff": cutoff},
        ).rowcount
    if any(deleted.values()):
        log.info("retention removed %s (older than %s)", deleted, cutoff.isoformat())
    return deleted
