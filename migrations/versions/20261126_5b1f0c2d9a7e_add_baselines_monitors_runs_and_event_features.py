"""Add baselines, monitors, monitor runs (+ revisions), metric values and event features.

Revision ID: 5b1f0c2d9a7e
Revises: 27ec3583633a
Create Date: 2026-11-26 08:08:02.558482
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5b1f0c2d9a7e"
down_revision: str | None = "27ec3583633a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("embedder", sa.String(length=32), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("profile", sa.LargeBinary(), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baselines")),
        sa.UniqueConstraint("model", "name", name=op.f("uq_baselines_model_name")),
    )
    op.create_table(
        "baseline_records",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("baseline_id", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("prediction", sa.Text(), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("perplexity", sa.Float(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["baseline_id"],
            ["baselines.id"],
            name=op.f("fk_baseline_records_baseline_id_baselines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baseline_records")),
    )
    op.create_index(
        "ix_baseline_records_baseline_id", "baseline_records", ["baseline_id"], unique=False
    )
    op.create_table(
        "event_features",
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("prompt_chars", sa.Float(), nullable=False),
        sa.Column("prompt_words", sa.Float(), nullable=False),
        sa.Column("prompt_nonletter_share", sa.Float(), nullable=False),
        sa.Column("output_chars", sa.Float(), nullable=False),
        sa.Column("output_words", sa.Float(), nullable=False),
        sa.Column("output_nonletter_share", sa.Float(), nullable=False),
        sa.Column("prompt_empty", sa.Boolean(), nullable=False),
        sa.Column("output_empty", sa.Boolean(), nullable=False),
        sa.Column("refusal", sa.Boolean(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("pii", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column(
            "featurised_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_event_features_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_features")),
    )
    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=True),
        sa.Column("baseline_id", sa.Integer(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delay_seconds", sa.Integer(), server_default="60", nullable=False),
        sa.Column("min_events", sa.Integer(), server_default="100", nullable=False),
        sa.Column(
            "checks", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["baseline_id"],
            ["baselines.id"],
            name=op.f("fk_monitors_baseline_id_baselines"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("name", name=op.f("uq_monitors_name")),
    )
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("baseline_id", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=24), server_default="pending", nullable=False),
        sa.Column("verdict", sa.String(length=24), nullable=True),
        sa.Column("drift_signal", sa.Boolean(), nullable=True),
        sa.Column("retraining_recommended", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("n_events", sa.Integer(), nullable=True),
        sa.Column("n_labels", sa.Integer(), nullable=True),
        sa.Column("results", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("report", sa.LargeBinary(), nullable=True),
        sa.Column("timings", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitor_runs_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_runs")),
        sa.UniqueConstraint(
            "monitor_id", "window_start", name=op.f("uq_monitor_runs_monitor_id_window_start")
        ),
    )
    op.create_index(
        "ix_monitor_runs_status_window_start",
        "monitor_runs",
        ["status", "window_start"],
        unique=False,
    )
    op.create_table(
        "metric_values",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["monitor_runs.id"],
            name=op.f("fk_metric_values_run_id_monitor_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_values")),
    )
    op.create_index("ix_metric_values_run_id", "metric_values", ["run_id"], unique=False)
    op.create_table(
        "monitor_run_revisions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=24), nullable=True),
        sa.Column("n_labels", sa.Integer(), nullable=True),
        sa.Column("results", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["monitor_runs.id"],
            name=op.f("fk_monitor_run_revisions_run_id_monitor_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_run_revisions")),
    )
    op.create_index(
        op.f("ix_monitor_run_revisions_run_id"), "monitor_run_revisions", ["run_id"], unique=False
    )
    op.create_index(
        "ix_feedback_model_received_at", "feedback", ["model", "received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_model_received_at", table_name="feedback")
    op.drop_index(op.f("ix_monitor_run_revisions_run_id"), table_name="monitor_run_revisions")
    op.drop_table("monitor_run_revisions")
    op.drop_index("ix_metric_values_run_id", table_name="metric_values")
    op.drop_table("metric_values")
    op.drop_index("ix_monitor_runs_status_window_start", table_name="monitor_runs")
    op.drop_table("monitor_runs")
    op.drop_table("monitors")
    op.drop_table("event_features")
    op.drop_index("ix_baseline_records_baseline_id", table_name="baseline_records")
    op.drop_table("baseline_records")
    op.drop_table("baselines")
