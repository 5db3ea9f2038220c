"""The one definition of "a window's events": one model (and version), ``start <= ts < end``.

Window runs and frozen-window baselines both read events through it, so they always agree on
which events a window holds. ``ix_events_model_ts`` serves it on every daily partition.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

WINDOW_FILTER = """
    e.model = :model AND e.ts >= :start AND e.ts < :end
    AND (CAST(:version AS text) IS NULL OR e.model_version = :version)
"""

# Sampling by a hash of request_id keeps the same events on a recompute (late labels).
SAMPLE_FILTER = "(:permille >= 1000 OR abs(hashtext(e.request_id)) % 1000 < :permille)"


def window_params(
    model: str, version: str | None, start: datetime, end: datetime
) -> dict[str, Any]:
    """Bind parameters for ``WINDOW_FILTER``."""
    return {"model": model, "version": version, "start": start, "end": end}


def sample_permille(total: int, cap: int) -> int:
    """The share (per mille, at least 1) of a window's events to keep so about ``cap`` remain."""
    return 1000 if total <= cap else max(1, cap * 1000 // total)


_COUNT = text(f"SELECT count(*) FROM events e WHERE {WINDOW_FILTER}")


def count_window_events(conn: Connection, params: dict[str, Any]) -> int:
    """How many events the window (``window_params``) holds: the exact count a sample is
    drawn from."""
    return int(conn.execute(_COUNT, params).scalar_one())
