"""Retention: forget events and feedback older than ``DRIFTLINE_RETENTION_DAYS``.

Whole daily partitions of ``events`` older than the cutoff are dropped — no row-by-row delete,
no table bloat, no vacuum debt. Their idempotency keys and descriptors (small rows in
unpartitioned tables) are deleted first, in batches. Old rows in the default partition
(backfills) and in ``feedback`` are deleted in batches. The HTML reports (3-4 MB each) of
windows that old are dropped too; the runs' verdicts and metrics stay.
"""

import logging
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, TextClause, text

from app.db.partitions import DEFAULT_PARTITION, LOCK_TIMEOUT, day_bounds, day_partitions
from app.monitoring import runs

log = logging.getLogger("driftline.retention")

# Small batches keep each transaction short, so ingestion never waits on a long delete.
_BATCH = 5_000


# A set of events ("batch": id, model, request_id) takes its idempotency keys and descriptors
# with it, in the same statement.
_FORGET_KEYS_AND_FEATURES = """
    keys AS (
        DELETE FROM event_keys k USING batch b
        WHERE k.model = b.model AND k.request_id = b.request_id
    ), features AS (
        DELETE FROM event_features f USING batch b WHERE f.model = b.model AND f.event_id = b.id
    )
"""


def _forget_keys_and_features(engine: Engine, table: str) -> int:
    """Delete the event_keys and event_features rows of a detached partition's events, in
    batches walking the event ids; returns how many events it held."""
    batch = text(
        f"WITH batch AS (SELECT id, model, request_id FROM {table} WHERE id > :after "
        f"ORDER BY id LIMIT :n), {_FORGET_KEYS_AND_FEATURES} "
        "SELECT count(*), max(id) FROM batch"
    )
    after, total = 0, 0
    while True:
        with engine.begin() as conn:
            n, last = conn.execute(batch, {"after": after, "n": _BATCH}).one()
        if not n:
            return total
        after, total = last, total + n


# Backfilled events in the default partition go row by row.
_DELETE_OLD_DEFAULT = text(
    f"""
    WITH batch AS (
        DELETE FROM {DEFAULT_PARTITION} WHERE id IN (
            SELECT id FROM {DEFAULT_PARTITION} WHERE ts < :cutoff LIMIT :n FOR UPDATE SKIP LOCKED
        ) RETURNING id, model, request_id
    ), {_FORGET_KEYS_AND_FEATURES}
    SELECT count(*) FROM batch
    """
)
# Feedback goes by when Driftline received it: its ts is the client's word, and a far-future
# ts would keep it for ever, a far-past one delete it at once.
_DELETE_OLD_FEEDBACK = text(
    """
    WITH batch AS (
        DELETE FROM feedback WHERE id IN
            (SELECT id FROM feedback WHERE received_at < :cutoff LIMIT :n FOR UPDATE SKIP LOCKED)
        RETURNING 1
    )
    SELECT count(*) FROM batch
    """
)


def _in_batches(engine: Engine, statement: TextClause, cutoff: datetime) -> int:
    """Run a ``count(*)``-returning delete until a batch comes back short; the total."""
    total = 0
    while True:
        with engine.begin() as conn:
            n = int(conn.execute(statement, {"cutoff": cutoff, "n": _BATCH}).scalar_one())
        total += n
        if n < _BATCH:
            return total


def apply_retention(engine: Engine, *, days: int, now: datetime | None = None) -> dict[str, int]:
    """Forget what is older than ``days``; returns counts: partitions dropped, events (in
    them and in the default partition), feedback and reports."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    deleted = {"partitions": 0, "events": 0, "feedback": 0, "reports": 0}

    def wholly_old(day: date) -> bool:
        return day_bounds(day)[1] <= cutoff

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
    deleted["reports"] = runs.drop_old_reports(engine, cutoff)
    if any(deleted.values()):
        log.info("retention removed %s (older than %s)", deleted, cutoff.isoformat())
    return deleted
