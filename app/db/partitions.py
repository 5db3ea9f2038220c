"""Daily partitions of ``events``: created ahead of time, dropped whole by retention.

``events`` is range-partitioned on ``ts`` by UTC day (``events_p20261126`` holds that day);
``events_default`` catches any event whose day has no partition (a backfill of old traffic, or
an api that ran for days without a worker). The worker and ``driftline migrate`` keep
partitions ready from yesterday to a few days ahead — events may be stamped up to 24 h in the
future — and when a partition is created for a day that already has rows in the default
partition, those rows move into it in the same transaction.

Hand-written rather than pg_partman: that is a server extension our users' managed
PostgreSQL may not offer, and the embedded server does not ship it.
"""

import logging
import re
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("driftline.partitions")

DEFAULT_PARTITION = "events_default"
_NAME = re.compile(r"^events_p(\d{8})$")
# Partition maintenance waits this long for a lock, then gives up until the next tick rather
# than stall ingest behind it.
LOCK_TIMEOUT = "5s"


def partition_name(day: date) -> str:
    """``events_pYYYYMMDD``: the partition holding that UTC day."""
    return f"events_p{day:%Y%m%d}"


def day_partitions(conn: Connection, *, detached: bool = False) -> dict[date, str]:
    """The daily partitions of ``events``, by day; with ``detached``, the day tables that are
    not attached instead (left by a retention run that stopped between detach and drop)."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
            "AND c.relnamespace = current_schema()::regnamespace AND c.relname LIKE 'events_p%' "
            "AND c.relispartition = NOT :detached"
        ),
        {"detached": detached},
    ).scalars()
    out = {}
    for name in names:
        m = _NAME.match(name)
        if m:
            out[datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC).date()] = name
    return out


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a day's partition holds: ``[lo, hi)``."""
    lo = datetime.combine(day, time.min, UTC)
    return lo, lo + timedelta(days=1)


def create_day_partition(conn: Connection, day: date) -> int:
    """Create the partition for ``day``, moving in any rows the default partition holds for
    it; returns how many rows moved. Call inside a transaction."""
    name = partition_name(day)
    lo, hi = day_bounds(day)
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    # DDL takes no bind parameters; the name and bounds come from a date, never from input.
    conn.execute(text(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)"))
    moved = conn.execute(
        text(
            f"WITH gone AS (DELETE FROM {DEFAULT_PARTITION} WHERE ts >= :lo AND ts < :hi "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM gone"
        ),
        {"lo": lo, "hi": hi},
    ).rowcount
    conn.execute(
        text(
            f"ALTER TABLE events ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
        )
    )
    return int(moved)


def ensure_day_partitions(
    engine: Engine, *, days_back: int = 1, days_ahead: int = 3, today: date | None = None
) -> list[str]:
    """Create any missing partition from ``days_back`` days ago to ``days_ahead`` days ahead;
    returns the names created. A partition whose lock is not granted in time is left for the
    next call."""
    today = today or datetime.now(UTC).date()
    with engine.connect() as conn:
        existing = day_partitions(conn)
    created = []
    for offset in range(-days_back, days_ahead + 1):
        day = today + timedelta(days=offset)
        if day in existing:
            continue
        try:
            with engine.begin() as conn:
                moved = create_day_partition(conn, day)
        except Exception as exc:  # lock timeout or a racing worker: try again next tick
            log.warning("could not create %s yet: %s", partition_name(day), str(exc)[:200])
            continue
        created.append(partition_name(day))
        if moved:
            log.info(
                "%s created; %d events moved in from %s", created[-1], moved, DEFAULT_PARTITION
            )
    return created
