"""Baseline profiles are stored as data (JSON + arrays), never pickle; one min_events;
a monitor's threshold overrides are its "thresholds" (the column was "checks").

Every profile stored before this release was a pickle: those baselines go back to
``pending`` with their profile cleared, and the worker profiles them again from their
records (which it keeps), in the new format. A monitor whose threshold overrides named
``min_events`` (which silently won over the monitor's own ``min_events``) gets that value
as its ``min_events``; the override is removed and no longer accepted.

Revision ID: 5b1e7c9d2a40
Revises: e3b8f5a21c47
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5b1e7c9d2a40"
down_revision: str | None = "e3b8f5a21c47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Re-profile every stored pickle; fold the min_events override into the column."""
    op.execute(
        "UPDATE baselines SET status = 'pending', profile = NULL, error = NULL "
        "WHERE profile IS NOT NULL"
    )
    op.execute(
        "UPDATE monitors "
        "SET min_events = greatest(1, round((checks->>'min_events')::numeric))::int, "
        "checks = checks - 'min_events' "
        "WHERE checks ? 'min_events' AND jsonb_typeof(checks->'min_events') = 'number'"
    )
    op.execute("UPDATE monitors SET checks = checks - 'min_events' WHERE checks ? 'min_events'")
    # "checks" also named every window's results: the overrides are now "thresholds".
    op.alter_column("monitors", "checks", new_column_name="thresholds")


def downgrade() -> None:
    """Profiles in the new format are not readable by the old code: re-profile them."""
    op.alter_column("monitors", "thresholds", new_column_name="checks")
    op.execute("UPDATE baselines SET status = 'pending', profile = NULL WHERE profile IS NOT NULL")
