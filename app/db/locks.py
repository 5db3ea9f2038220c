"""PostgreSQL session advisory locks: one holder per key across every process and replica.

A session lock lives as long as the connection that took it, so a holder that dies frees it
with its connection; callers keep that connection open for as long as they hold the lock.
"""

from sqlalchemy import Connection, text


def wait_for_lock(conn: Connection, key: int) -> None:
    """Take the lock on ``key``, waiting for its holder to let go."""
    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})


def try_lock(conn: Connection, key: int) -> bool:
    """Take the lock on ``key`` if nobody holds it; whether this connection now does."""
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one())


def unlock(conn: Connection, key: int) -> None:
    """Let go of the lock on ``key`` held by this connection."""
    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def lock_for_transaction(conn: Connection, namespace: int, key: int) -> None:
    """Take the transaction lock on (``namespace``, ``key``) — both 32-bit — waiting for its
    holder; it is let go when this transaction ends."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:n, :k)"), {"n": namespace, "k": key})
