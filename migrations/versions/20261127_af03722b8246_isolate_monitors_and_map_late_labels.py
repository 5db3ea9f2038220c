"""Isolate monitors from each other and map late labels incrementally.

- ``monitors``: a backfill cursor (``planned_until``), the last claim time for round-robin
  claims, and the last error with a count, so one monitor's failure shows on it alone.
- ``monitor_runs``: a partial index on claimable runs (each monitor's newest and oldest).
- ``event_keys.ts``: the event's time beside its key, so a label received late finds its
  window by key instead of searching every events partition. Existing keys are filled from
  ``events`` in one statement (a hash join; about as long as the partitioning copy took).
- ``feedback``: an index on ``received_at`` and ``job_watermarks`` for the late-label walk.
- ``baselines.model_version``: the version a frozen window was taken from (the worker now
  does the copying).

Revision ID: af03722b8246
Revises: 8d3e6a41c7b2
Create Date: 2026-11-27 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "af03722b8246"
down_revision: str | None = "8d3e6a41c7b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns, indexes and table; fill event_keys.ts and planned_until."""
    tz = sa.DateTime(timezone=True)
    op.add_column("monitors", sa.Column("planned_until", tz))
    op.add_column("monitors", sa.Column("last_claim_at", tz))
    op.add_column("monitors", sa.Column("last_error", sa.Text()))
    op.add_column("monitors", sa.Column("last_error_at", tz))
    op.add_column(
        "monitors", sa.Column("error_count", sa.Integer(), server_default="0", nullable=False)
    )
    # Windows already planned stay planned: the cursor starts after the newest one.
    op.execute(
        "UPDATE monitors m SET planned_until = r.last + make_interval(secs => m.window_seconds) "
        "FROM (SELECT monitor_id, max(window_start) AS last FROM monitor_runs "
        "GROUP BY monitor_id) r WHERE r.monitor_id = m.id"
    )
    op.create_index(
        "ix_monitor_runs_claimable",
        "monitor_runs",
        ["monitor_id", "window_start"],
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.add_column("event_keys", sa.Column("ts", tz))
    op.execute(
        "UPDATE event_keys k SET ts = e.ts FROM events e "
        "WHERE e.model = k.model AND e.request_id = k.request_id"
    )
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_table(
        "job_watermarks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("watermark", tz, nullable=False),
    )
    op.add_column("baselines", sa.Column("model_version", sa.String(200)))


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_column("baselines", "model_version")
    op.drop_table("job_watermarks")
    op.drop_index("ix_feedback_received_at", table_name="feedback")
    op.drop_column("event_keys", "ts")
    op.drop_index("ix_monitor_runs_claimable", table_name="monitor_runs")
    for column in ("error_count", "last_error_at", "last_error", "last_claim_at", "planned_until"):
        op.drop_column("monitors", column)
