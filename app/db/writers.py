"""Set-based writers for the ingest hot path.

Events: each event's ``(model, request_id)`` is its idempotency key, held by ``event_keys``
(see app.db.models.Event). The statement that inserts events stores their keys too (an
AFTER INSERT statement trigger on ``events``, migration 8c3f5a1d9e47), so one statement is
atomic by itself and fails as a whole if any key is already stored. A batch's events are
COPYed in binary (the fastest way into PostgreSQL), in autocommit: two round trips, the
COPY's start and its end. If a key exists, the caller gets ``KeysStored`` and writes the
batch again with one ``INSERT … SELECT FROM jsonb_to_recordset`` statement, which stores
the keys itself, skipping stored ones, and only the events whose key was new. Retries are
rare, so nearly every batch takes the COPY path. Small batches (groups of single events) go
straight to the statement: one round trip beats two, and costs the api less CPU per row
(see COPY_MIN_ROWS). Both paths are set-based; neither does per-row ORM work. Events are
written on an async connection, from the event loop (app.ingest); feedback on a pooled sync
one.
"""

import operator
from typing import Any

import orjson
import psycopg
import sqlalchemy.exc
from psycopg.types.json import set_json_dumps
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

# An event's idempotency key: (model, request_id).
Key = tuple[str, str]

# Each event column and its PostgreSQL type: the one list the statement's record, the COPY
# column order and the binary COPY's types are built from.
_EVENT_TYPES_BY_COLUMN = {
    "model": "text", "model_version": "text", "request_id": "text", "ts": "timestamptz",
    "prompt": "text", "output": "text", "prediction": "text", "confidence": "float8",
    "latency_ms": "float8", "prompt_tokens": "int4", "completion_tokens": "int4",
    "perplexity": "float8", "logprob_tokens": "int4", "finish_reason": "text",
    "embedding": "float4[]", "metadata": "jsonb",
}  # fmt: skip
EVENT_COLUMNS = tuple(_EVENT_TYPES_BY_COLUMN)
_EVENT_COLUMNS = ", ".join(f"{c} {t}" for c, t in _EVENT_TYPES_BY_COLUMN.items())

# Models are registered in the same statement; the NOT EXISTS guard keeps the insert from
# burning a sequence value on every batch. The keys are inserted here, skipping stored ones
# (an index probe each; a NOT EXISTS against event_keys was planned as a hash of the whole
# table while its statistics were young: 2 → 12 ms for 30 rows as it grew to 18,000 keys);
# the transaction says so to the events' key trigger, which then leaves them at once
# (migration 8c3f5a1d9e47; it would find them stored by this transaction, for 0.6 ms more
# in 1.7 for 30 rows). Executed on the driver (psycopg's placeholder).
_INSERT_EVENTS = f"""
    WITH incoming AS (
        SELECT * FROM jsonb_to_recordset(CAST(%(rows)s AS jsonb)) AS x({_EVENT_COLUMNS})
    ), new_models AS (
        INSERT INTO models (name, version)
        SELECT DISTINCT i.model, i.model_version FROM incoming i
        WHERE NOT EXISTS (
            SELECT 1 FROM models m WHERE m.name = i.model AND m.version = i.model_version
        )
        ON CONFLICT (name, version) DO NOTHING
    ), new_keys AS (
        INSERT INTO event_keys (model, request_id, ts)
        SELECT model, request_id, ts FROM incoming
        WHERE set_config('driftline.event_keys', 'stored', true) = 'stored'
        ON CONFLICT (model, request_id) DO NOTHING
        RETURNING model, request_id
    ), inserted AS (
        INSERT INTO events (
            model, model_version, request_id, ts, prompt, output, prediction, confidence,
            latency_ms, prompt_tokens, completion_tokens, perplexity, logprob_tokens,
            finish_reason, embedding, metadata
        )
        SELECT model, model_version, request_id, ts, prompt, output, prediction, confidence,
               latency_ms, prompt_tokens, completion_tokens, perplexity, logprob_tokens,
               finish_reason, embedding, metadata
        FROM incoming JOIN new_keys USING (model, request_id)
        RETURNING model, request_id
    )
    SELECT model, request_id FROM inserted
    """

# Later feedback for the same event fills in what it carries and keeps the rest.
_UPSERT_FEEDBACK = text(
    """
    INSERT INTO feedback (model, request_id, label, reference, score, thumbs, source, ts)
    SELECT model, request_id, label, reference, score, thumbs, source, coalesce(ts, now())
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(
        model text, request_id text, label text, reference text, score float8, thumbs int,
        source text, ts timestamptz
    )
    ON CONFLICT (model, request_id) DO UPDATE SET
        label = coalesce(EXCLUDED.label, feedback.label),
        reference = coalesce(EXCLUDED.reference, feedback.reference),
        score = coalesce(EXCLUDED.score, feedback.score),
        thumbs = coalesce(EXCLUDED.thumbs, feedback.thumbs),
        source = coalesce(EXCLUDED.source, feedback.source),
        ts = EXCLUDED.ts,
        received_at = now()
    """
)


# Binary COPY: the values are sent as PostgreSQL holds them, with no text escaping or
# parsing; formatting a row cost the api half as much as in text (2.3-3.3 against 4.8-5.0 µs).
_EVENT_TYPES = list(_EVENT_TYPES_BY_COLUMN.values())
# A row's values in COPY's column order (one C call; a comprehension took twice as long).
_IN_COLUMN_ORDER = operator.itemgetter(*EVENT_COLUMNS)
# Below this size the one statement costs the api less and PostgreSQL no more: per row, 20
# rows 26 µs of api CPU against 38 for COPY, 50 rows 9 against 18, 100 rows 8 against 16 with
# the same wall time; from 200 rows COPY's wall time is lower (22 against 32 µs a row).
# Single events, written in groups of 15-40, gained 10 % from this bound (was 20).
COPY_MIN_ROWS = 100
_COPY_EVENTS = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_INSERT_MODELS = text(
    """
    INSERT INTO models (name, version)
    SELECT name, version FROM unnest(CAST(:names AS text[]), CAST(:versions AS text[]))
        AS x(name, version)
    WHERE NOT EXISTS (SELECT 1 FROM models m WHERE m.name = x.name AND m.version = x.version)
    ON CONFLICT (name, version) DO NOTHING
    """
)


def model_versions(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The ``(model, model_version)`` pairs of event rows."""
    return {(r["model"], r["model_version"]) for r in rows}


async def _register_models(conn: AsyncConnection, pairs: set[tuple[str, str]]) -> None:
    names, versions = zip(*sorted(pairs), strict=True)
    await conn.execute(_INSERT_MODELS, {"names": list(names), "versions": list(versions)})


async def _driver(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    return driver


async def _copy_events(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """The rows as one binary COPY (the trigger stores their keys)."""
    async with (await _driver(conn)).cursor() as cur:
        # JSON metadata dumped by orjson, not the standard library.
        set_json_dumps(orjson.dumps, context=cur)
        async with cur.copy(_COPY_EVENTS) as copy:
            copy.set_types(_EVENT_TYPES)
            for r in rows:
                await copy.write_row(_IN_COLUMN_ORDER(r))


async def _insert_skipping_duplicates(
    conn: AsyncConnection, rows: list[dict[str, Any]]
) -> set[Key]:
    # On the driver, as a prepared statement: through SQLAlchemy this statement cost single
    # events ≈15 % of their throughput (alternating runs, docs/benchmarks.md).
    async with (await _driver(conn)).cursor() as cur:
        await cur.execute(_INSERT_EVENTS, {"rows": orjson.dumps(rows).decode()}, prepare=True)
        return {(model, request_id) async for model, request_id in cur}


async def _as_sqlalchemy_error(
    conn: AsyncConnection, statement: str, exc: psycopg.Error
) -> sqlalchemy.exc.StatementError:
    """What SQLAlchemy raises when a statement it runs fails like this: the same family for
    callers (a refused group is split by request, app.ingest; a bad value is a 422), and a
    connection found dead is invalidated and said to be (the committer retries once)."""
    raw = await conn.get_raw_connection()
    dead = conn.dialect.is_disconnect(exc, raw.dbapi_connection, None)  # type: ignore[arg-type]
    if dead:
        await conn.invalidate(exc)
    return sqlalchemy.exc.DBAPIError.instance(
        statement, None, exc, psycopg.Error, connection_invalidated=dead
    )


def first_of_each_key(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The batch without repeats of an earlier ``(model, request_id)`` (the first one wins)."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for r in rows:
        key = (r["model"], r["request_id"])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return unique


class KeysStored(Exception):
    """Raised by ``insert_events``: some of the rows' keys were stored before (a client's
    retry), which COPY cannot skip. Nothing of it was stored (in a transaction, it is
    aborted: roll it back); write the rows again with ``copy=False``."""


async def insert_events(
    conn: AsyncConnection,
    rows: list[dict[str, Any]],
    unregistered: set[tuple[str, str]] | None = None,
    *,
    copy: bool = True,
) -> set[Key]:
    """Insert event rows (keys as in ``EVENT_COLUMNS``; no ``(model, request_id)`` twice:
    ``first_of_each_key``) with one statement, atomic by itself, so it may run in autocommit
    (a COPY first registers models not yet known, in a statement of its own); returns the keys
    of those that were new (one already stored is not written).

    ``unregistered``: the rows' ``(model, model_version)`` pairs that may be missing from
    ``models`` (None: any of them). A caller that knows which pairs it committed earlier
    (models are never deleted) passes the rest, and a COPY of known ones skips a statement.
    ``copy=False``: the statement, whatever the size (after ``KeysStored``).
    """
    if not copy or len(rows) < COPY_MIN_ROWS:
        try:  # registers the models itself
            return await _insert_skipping_duplicates(conn, rows)
        except psycopg.Error as exc:
            raise await _as_sqlalchemy_error(conn, _INSERT_EVENTS, exc) from exc
    if unregistered is None:
        unregistered = model_versions(rows)
    if unregistered:
        await _register_models(conn, unregistered)
    try:
        await _copy_events(conn, rows)
    except psycopg.errors.UniqueViolation as exc:
        raise KeysStored from exc
    except psycopg.Error as exc:
        # COPY goes to the driver itself; a raw psycopg error was a 500 for every request
        # of the group.
        raise await _as_sqlalchemy_error(conn, _COPY_EVENTS, exc) from exc
    return {(r["model"], r["request_id"]) for r in rows}


def upsert_feedback(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert or merge feedback rows keyed by ``(model, request_id)``; returns rows written."""
    result = conn.execute(_UPSERT_FEEDBACK, {"rows": orjson.dumps(rows).decode()})
    return int(result.rowcount)
