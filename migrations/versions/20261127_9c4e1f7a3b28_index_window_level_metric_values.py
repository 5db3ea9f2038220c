"""Index the window-level metric values the UI charts (covering, partial).

A model page charts each check over up to thousands of windows: only the numbers about a
whole window (``feature IS NULL``), which an index-only scan of this index serves without
touching the per-column and per-class values stored beside them.

Revision ID: 9c4e1f7a3b28
Revises: 7a2c9e4b1d60
Create Date: 2026-11-27 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c4e1f7a3b28"
down_revision: str | None = "7a2c9e4b1d60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ix_metric_values_window_level."""
    op.create_index(
        "ix_metric_values_window_level",
        "metric_values",
        ["run_id"],
        postgresql_include=["check", "metric", "value", "threshold"],
        postgresql_where=sa.text("feature IS NULL"),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_metric_values_window_level", table_name="metric_values")
