"""Retention: delete events and feedback older than ``DRIFTLINE_RETENTION_DAYS``, and drop the
HTML reports (3-4 MB each) of windows that old; the runs' verdicts and metrics stay."""

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

log = logging.getLogger("driftline.retention")

# Small batches keep each transaction short, so ingestion never waits on a long delete.
_BATCH = 5_000

_DELETE_BATCH = {
    "events": text(
        "DELETE FROM events WHERE id IN "
        "(SELECT id FROM events WHERE ts < :cutoff LIMIT :n FOR UPDATE SKIP LOCKED)"
    ),
    "feedback": text(
        "DELETE FROM feedback WHERE id IN "
        "(SELECT id FROM feedback WHERE ts < :cutoff LIMIT :n FOR UPDATE SKIP LOCKED)"
    ),
}


def apply_retention(engine: Engine, *, days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete rows older than ``days``; returns how many rows each table lost."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    deleted = {}
    for table, stmt in _DELETE_BATCH.items():
        total = 0
        while True:
            with engine.begin() as conn:
                n = conn.execute(stmt, {"cutoff": cutoff, "n": _BATCH}).rowcount
            total += n
            if n < _BATCH:
                break
        deleted[table] = total
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
