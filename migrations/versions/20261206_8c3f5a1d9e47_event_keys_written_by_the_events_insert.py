"""Event keys are written by the statement that inserts the events: an AFTER INSERT
statement trigger on ``events`` inserts the new rows' ``(model, request_id, ts)`` into
``event_keys``.

Every stored event now has its idempotency key whoever inserts it, and an insert whose key
is already stored fails as a whole (unique violation) — so a batch's COPY is atomic on its
own, in autocommit: two round trips where BEGIN with the keys' statement, the COPY and
COMMIT took four, and no key arrays for the api to build: batches 0.57-0.66 → 0.75-0.83 of
raw COPY (docs/benchmarks.md).
The trigger fires once per statement and reads the statement's rows from its transition
table. Rows moved into a new day partition before it is attached (app.db.partitions) go
into a plain table and fire nothing: their keys exist.

A key the same transaction stored before the events is theirs, not a duplicate: the
statement that skips stored keys inserts them itself (``ON CONFLICT DO NOTHING``, an index
probe a key, where a ``NOT EXISTS`` was planned as a scan of the whole key table while its
statistics were young), and so do the writers of earlier releases, which keep working while
a rolling upgrade replaces them. Both checks go through the key's unique index, and only
once a plain insert of the keys has failed (as ``ON CONFLICT`` the first insert cost a
650-event COPY 14-20 ms against 14-16 plain, alternating; 10-12 with no trigger). The
statement that skips stored keys also says so for its transaction
(``driftline.event_keys = 'stored'``) and the trigger returns at once: finding its keys
again cost that statement 0.6 ms in 1.7 for 30 events.

Revision ID: 8c3f5a1d9e47
Revises: 5b1e9c7d4a20
Create Date: 2026-12-06 06:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8c3f5a1d9e47"
down_revision: str | None = "5b1e9c7d4a20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the key-storing function and the statement trigger on events."""
    op.execute(
        """
        CREATE FUNCTION store_event_keys() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            stored bigint;
            earlier bigint;
        BEGIN
            IF current_setting('driftline.event_keys', true) = 'stored' THEN
                RETURN NULL;
            END IF;
            BEGIN
                INSERT INTO event_keys (model, request_id, ts)
                SELECT model, request_id, ts FROM new_events;
                RETURN NULL;
            EXCEPTION WHEN unique_violation THEN
                NULL;  -- some are stored: look closer
            END;
            INSERT INTO event_keys (model, request_id, ts)
            SELECT model, request_id, ts FROM new_events
            ON CONFLICT (model, request_id) DO NOTHING;
            GET DIAGNOSTICS stored = ROW_COUNT;
            IF stored = (SELECT count(*) FROM new_events) THEN
                RETURN NULL;
            END IF;
            IF (SELECT count(*) <> count(DISTINCT (model, request_id)) FROM new_events) THEN
                RAISE unique_violation USING
                    MESSAGE = 'the inserted events repeat a (model, request_id)',
                    TABLE = 'event_keys', CONSTRAINT = 'pk_event_keys';
            END IF;
            -- Every key exists now; those stored by an earlier transaction are "updated" (to
            -- themselves, rolled back below), this transaction's own are left alone.
            INSERT INTO event_keys AS k (model, request_id, ts)
            SELECT model, request_id, ts FROM new_events
            ON CONFLICT (model, request_id) DO UPDATE SET ts = k.ts
            WHERE k.xmin <> pg_current_xact_id()::xid;
            GET DIAGNOSTICS earlier = ROW_COUNT;
            IF earlier > 0 THEN
                RAISE unique_violation USING
                    MESSAGE = format('%s of the inserted events are stored already', earlier),
                    TABLE = 'event_keys', CONSTRAINT = 'pk_event_keys';
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_store_keys AFTER INSERT ON events "
        "REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT "
        "EXECUTE FUNCTION store_event_keys()"
    )


def downgrade() -> None:
    """Drop the trigger and its function (the writers must insert keys themselves again)."""
    op.execute("DROP TRIGGER events_store_keys ON events")
    op.execute("DROP FUNCTION store_event_keys()")
