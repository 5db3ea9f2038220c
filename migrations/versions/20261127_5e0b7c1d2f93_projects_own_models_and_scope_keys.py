"""Projects own models and scope keys.

A key bound to a project sees and writes only its project's models; a key without one (made
by an operator) sees every project. Existing keys and every model name already known go to a
``default`` project, so a single-team install works exactly as before.

Revision ID: 5e0b7c1d2f93
Revises: c41d9e27b5a0
Create Date: 2026-11-27 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e0b7c1d2f93"
down_revision: str | None = "c41d9e27b5a0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create projects and model_projects; existing keys and models join 'default'."""
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_table(
        "model_projects",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="RESTRICT"),
            nullable=False,
        ),
    )  # fmt: skip
    op.add_column(
        "api_keys",
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="RESTRICT")),
    )
    op.execute("INSERT INTO projects (name) VALUES ('default')")
    op.execute("UPDATE api_keys SET project_id = (SELECT id FROM projects WHERE name = 'default')")
    op.execute(
        """
        INSERT INTO model_projects (model, project_id)
        SELECT name, (SELECT id FROM projects WHERE name = 'default') FROM (
            SELECT name FROM models UNION SELECT model FROM baselines
            UNION SELECT model FROM monitors UNION SELECT model FROM feedback
        ) known
        """
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_column("api_keys", "project_id")
    op.drop_table("model_projects")
    op.drop_table("projects")
