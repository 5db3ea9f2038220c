"""Every stored event has its idempotency key, written by the statement that inserts it (the
events' statement trigger), and an insert that brings a stored key stores nothing — what the
ingest path's COPY in autocommit relies on (app.db.writers)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest

from app.db.writers import _INSERT_EVENTS
from tests.pg import libpq_url

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as c:
        yield c


def _keys(conn: psycopg.Connection[Any]) -> dict[str, datetime]:
    return dict(conn.execute("SELECT request_id, ts FROM event_keys").fetchall())


def _events(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute("SELECT request_id FROM events ORDER BY request_id").fetchall()
    return [r[0] for r in rows]


def _copy(conn: psycopg.Connection[Any], ids: list[str]) -> None:
    with conn.cursor().copy("COPY events (model, request_id, ts, prompt, output) FROM STDIN") as cp:
        for i, request_id in enumerate(ids):
            cp.write_row(("bot", request_id, T0 + timedelta(seconds=i), "p", "o"))


def _statement_rows(ids: list[str]) -> str:
    return orjson.dumps(
        [
            {"model": "bot", "model_version": "", "request_id": i, "ts": T0.isoformat(),
             "prompt": "p", "output": "o"}
            for i in ids
        ]
    ).decode()  # fmt: skip


def test_every_insert_into_events_stores_the_keys_of_its_rows(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(
        "INSERT INTO events (model, request_id, ts, prompt, output) "
        "SELECT 'bot', 'ins-' || g, %s, 'p', 'o' FROM generate_series(1, 3) g",
        (T0,),
    )
    _copy(conn, ["copy-1", "copy-2"])
    keys = _keys(conn)
    assert sorted(keys) == ["copy-1", "copy-2", "ins-1", "ins-2", "ins-3"]
    assert keys["ins-2"] == T0 and keys["copy-2"] == T0 + timedelta(seconds=1)


def test_an_insert_bringing_one_stored_key_stores_nothing(conn: psycopg.Connection[Any]) -> None:
    _copy(conn, ["a"])
    with pytest.raises(psycopg.errors.UniqueViolation):
        _copy(conn, ["b", "c", "a"])
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO events (model, request_id, ts, prompt, output) "
            "VALUES ('bot', 'd', %s, 'p', 'o'), ('bot', 'a', %s, 'p', 'o')",
            (T0, T0),
        )
    assert _events(conn) == ["a"] and list(_keys(conn)) == ["a"]


def test_the_statement_skipping_stored_keys_stores_each_key_once(
    conn: psycopg.Connection[Any],
) -> None:
    _copy(conn, ["old"])
    new = conn.execute(_INSERT_EVENTS, {"rows": _statement_rows(["old", "n1", "n2"])}).fetchall()
    assert sorted(r[1] for r in new) == ["n1", "n2"]
    assert _events(conn) == ["n1", "n2", "old"] and sorted(_keys(conn)) == ["n1", "n2", "old"]


def test_keys_stored_first_by_the_same_transaction_are_the_events_own(
    conn: psycopg.Connection[Any],
) -> None:
    """How the writers of earlier releases insert (keys, then events, one transaction): they
    keep working while a rolling upgrade replaces them. A key stored by an earlier
    transaction still fails the insert."""
    _copy(conn, ["old"])
    with conn.transaction():
        conn.execute(
            "INSERT INTO event_keys (model, request_id, ts) VALUES ('bot', 'k1', %s), "
            "('bot', 'k2', %s)",
            (T0, T0),
        )
        _copy(conn, ["k1", "k2"])
    assert _events(conn) == ["k1", "k2", "old"]
    with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
        conn.execute(
            "INSERT INTO event_keys (model, request_id, ts) VALUES ('bot', 'k3', %s)", (T0,)
        )
        _copy(conn, ["k3", "old"])
    assert _events(conn) == ["k1", "k2", "old"] and sorted(_keys(conn)) == ["k1", "k2", "old"]


def test_one_insert_repeating_a_key_stores_nothing(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation):
        _copy(conn, ["x", "y", "x"])
    assert _events(conn) == [] and _keys(conn) == {}


def test_the_statement_finds_stored_keys_by_the_index_whatever_the_table_holds(
    conn: psycopg.Connection[Any],
) -> None:
    """A NOT EXISTS against event_keys was planned as a hash of the whole table while its
    statistics were young (no ANALYZE yet, as here): 2 → 12 ms for 30 rows at 18,000 keys."""
    conn.execute(
        "INSERT INTO events (model, request_id, ts, prompt, output) "
        "SELECT 'bot', 'pre-' || g, %s, 'p', 'o' FROM generate_series(1, 5000) g",
        (T0,),
    )
    with conn.transaction():
        plan = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + _INSERT_EVENTS.replace("%(rows)s", "%s"),
            (_statement_rows([f"n{i}" for i in range(30)]),),
        ).fetchone()
    assert plan is not None
    scans = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Relation Name") == "event_keys" and "Scan" in node["Node Type"]:
            scans.append(node["Node Type"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0][0]["Plan"])  # psycopg decodes the json column
    assert scans == [], f"the statement reads event_keys with {scans}"
