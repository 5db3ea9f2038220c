"""The model is part of every key of the event tables (events, event_keys, feedback,
event_features), and event_features carries it, so the tables can be distributed by model
on a distributed PostgreSQL (Citus) and co-located: a distributed table's primary and
unique keys must include its distribution column, and joins between co-located tables must
be on it (docs/scaling.md).

The model goes last in each key, so lookups by id (the featuriser's newest id, an event's
features) still use the key's index.

Revision ID: e7b3c1a9d2f4
Revises: a9e1f4b7c203
Create Date: 2026-12-04 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e7b3c1a9d2f4"
down_revision: str | None = "a9e1f4b7c203"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add event_features.model (filled from events) and put the model in each key."""
    op.add_column("event_features", sa.Column("model", sa.String(length=200)))
    op.execute("UPDATE event_features f SET model = e.model FROM events e WHERE e.id = f.event_id")
    # Features whose event is gone (retention deletes both; a crash between could leave one).
    op.execute("DELETE FROM event_features WHERE model IS NULL")
    op.alter_column("event_features", "model", nullable=False)
    op.drop_constraint("pk_event_features", "event_features", type_="primary")
    op.create_primary_key("pk_event_features", "event_features", ["event_id", "model"])
    op.drop_constraint("pk_events", "events", type_="primary")
    op.create_primary_key("pk_events", "events", ["id", "ts", "model"])
    op.drop_constraint("pk_feedback", "feedback", type_="primary")
    op.create_primary_key("pk_feedback", "feedback", ["id", "model"])


def downgrade() -> None:
    """Back to the keys without the model."""
    op.drop_constraint("pk_feedback", "feedback", type_="primary")
    op.create_primary_key("pk_feedback", "feedback", ["id"])
    op.drop_constraint("pk_events", "events", type_="primary")
    op.create_primary_key("pk_events", "events", ["id", "ts"])
    op.drop_constraint("pk_event_features", "event_features", type_="primary")
    op.create_primary_key("pk_event_features", "event_features", ["event_id"])
    op.drop_column("event_features", "model")
