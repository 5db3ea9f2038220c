"""Reads off a streaming replica, only once it holds what the primary held.

A window's verdict must never be computed on events the primary has and a lagging replica
has not replayed yet. The primary's WAL position is read when the window is about to be
read; the replica serves the read once its replay has reached that position (everything
committed before it, late events included), which is exact where comparing replay
timestamps with the window's end would not be (an event stored late carries an old ``ts``).
A replica that does not catch up within the wait leaves the read to the primary.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("driftline.replica")

Source = Literal["primary", "replica"]

_POSITION = text("SELECT pg_current_wal_lsn()::text")
# On a server that is not in recovery (a read URL naming the primary itself) there is
# nothing to wait for.
_REPLAYED = text(
    "SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= CAST(:target AS pg_lsn)"
)
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ReadReplica:
    """Where reads that must be complete may go: a replica's engine (None: the primary's)
    and how long to wait for it to catch up."""

    engine: Engine | None = None
    wait_seconds: float = 10.0


# No replica: every read on the primary.
PRIMARY_ONLY = ReadReplica()


@contextmanager
def caught_up(primary: Engine, replica: ReadReplica) -> Iterator[tuple[Connection, Source]]:
    """A connection that sees everything the primary had committed when this was entered,
    and which server it is on: the replica once its replay reaches the primary's current
    WAL position (waiting up to ``replica.wait_seconds``), else the primary."""
    if replica.engine is not None and replica.engine is not primary:
        with primary.connect() as conn:
            target = conn.execute(_POSITION).scalar_one()
        deadline = time.monotonic() + replica.wait_seconds
        with replica.engine.connect() as conn:
            while not conn.execute(_REPLAYED, {"target": target}).scalar_one():
                conn.rollback()  # a fresh snapshot for the next look
                if time.monotonic() >= deadline:
                    break
                time.sleep(_POLL_SECONDS)
            else:
                conn.rollback()  # read in a snapshot taken after the replay got there
                yield conn, "replica"
                return
        log.warning(
            "the read replica has not replayed up to %s after %.1fs: reading the primary",
            target, replica.wait_seconds,
        )  # fmt: skip
    with primary.connect() as conn:
        yield conn, "primary"
