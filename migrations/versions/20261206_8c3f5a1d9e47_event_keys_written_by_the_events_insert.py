"""Event keys are written by the statement that inserts the events: an AFTER INSERT
statement trigger on ``events`` inserts the new rows' ``(model, request_id, ts)`` into
``event_keys``.

Every stored event now has its idempotency key whoever inserts it, and an insert whose key
is already stored fails as a whole (unique violation) — so a batch's COPY is atomic on its
own, in autocommit: two round trips where BEGIN with the keys' statement, the COPY and
COMMIT took four, and no key arrays for the api to build. Batches +25 % (docs/benchmarks.md).
The trigger fires once per statement and reads the statement's rows from its transition
table. Rows moved into a new day partition before it is attached (app.db.partitions) go
into a plain table and fire nothing: their keys exist.

The one exception is the ingest statement that skips stored keys (app.db.writers): it finds
them by inserting the keys itself (``ON CONFLICT DO NOTHING``, an index probe a key, where
a ``NOT EXISTS`` was planned as a scan of the whole key table while its statistics were
young) and says so for its transaction (``driftline.event_keys = 'stored'``); the trigger
then leaves them.

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
        BEGIN
            IF current_setting('driftline.event_keys', true) = 'stored' THEN
                RETURN NULL;
            END IF;
            INSERT INTO event_keys (model, request_id, ts)
            SELECT model, request_id, ts FROM new_events;
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
