"""LLM judges and their cached judgments; monitors name the judges they run; feedback and
baseline records carry a reference answer.

Revision ID: 8f3a6d1c0b57
Revises: 5b1e7c9d2a40
Create Date: 2026-12-03 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "8f3a6d1c0b57"
down_revision: str | None = "5b1e7c9d2a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create judges and judgments; add monitors.judges (empty: no monitor judges yet) and
    the reference columns (NULL for what is stored)."""
    op.create_table(
        "judges",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("api_key_env", sa.String(200)),
        sa.Column("api_key_file", sa.String(500)),
        sa.Column("rubric", sa.String(32), nullable=False),
        sa.Column("prompt_template", sa.Text()),
        sa.Column("answer", sa.String(16), nullable=False),
        sa.Column("pass_threshold", sa.Float(), server_default="0.5", nullable=False),
        sa.Column("budget", sa.Integer(), server_default="100", nullable=False),
        sa.Column("baseline_sample", sa.Integer(), server_default="1000", nullable=False),
        sa.Column("concurrency", sa.Integer(), server_default="4", nullable=False),
        sa.Column("timeout_seconds", sa.Float(), server_default="30", nullable=False),
        sa.Column("max_retries", sa.Integer(), server_default="4", nullable=False),
        sa.Column("daily_token_cap", sa.BigInteger()),
        sa.Column("max_fail_rate", sa.Float()),
        sa.Column("anchors", sa.Integer(), server_default="50", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_judges"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            ondelete="RESTRICT",
            name="fk_judges_project_id_projects",
        ),
        sa.UniqueConstraint("project_id", "name", name="uq_judges_project_id_name"),
    )
    op.create_table(
        "judgments",
        sa.Column("id", sa.BigInteger(), autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("judge_id", sa.Integer(), nullable=False),
        sa.Column("judge_version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("score", sa.Float()),
        sa.Column("passed", sa.Boolean()),
        sa.Column("reason", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_judgments"),
        sa.ForeignKeyConstraint(
            ["judge_id"], ["judges.id"], ondelete="CASCADE", name="fk_judgments_judge_id_judges"
        ),
        sa.UniqueConstraint(
            "model",
            "subject",
            "key",
            "judge_id",
            "judge_version",
            name="uq_judgments_model_subject_key_judge_id_judge_version",
        ),
    )
    op.create_index("ix_judgments_judge_id_created_at", "judgments", ["judge_id", "created_at"])
    op.add_column("feedback", sa.Column("reference", sa.Text()))
    op.add_column("baseline_records", sa.Column("reference", sa.Text()))
    op.add_column(
        "monitors",
        sa.Column("judges", ARRAY(sa.String(200)), server_default="{}", nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_column("monitors", "judges")
    op.drop_column("baseline_records", "reference")
    op.drop_column("feedback", "reference")
    op.drop_table("judgments")
    op.drop_table("judges")
