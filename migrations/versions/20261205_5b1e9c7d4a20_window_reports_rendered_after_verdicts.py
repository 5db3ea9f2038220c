"""Window reports are rendered after verdicts: ``monitor_runs.report_due_at`` and
``report_attempts``.

A report (Evidently's HTML) costs one to two seconds, twenty times a window's verdict; the
worker stores the verdict first and marks the report due, and renders due reports when no
window is waiting. The partial index finds the due ones without reading the table; the
attempts stop a report whose rendering kills its worker from being claimed forever.

Revision ID: 5b1e9c7d4a20
Revises: 307cda9aad2a
Create Date: 2026-12-05 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e9c7d4a20"
down_revision: str | None = "307cda9aad2a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add report_due_at, its partial index and report_attempts."""
    op.add_column("monitor_runs", sa.Column("report_due_at", sa.DateTime(timezone=True)))
    op.add_column(
        "monitor_runs",
        sa.Column("report_attempts", sa.SmallInteger(), server_default="0", nullable=False),
    )
    op.create_index(
        "ix_monitor_runs_report_due",
        "monitor_runs",
        ["report_due_at"],
        postgresql_where=sa.text("report_due_at IS NOT NULL"),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_monitor_runs_report_due", table_name="monitor_runs")
    op.drop_column("monitor_runs", "report_attempts")
    op.drop_column("monitor_runs", "report_due_at")
