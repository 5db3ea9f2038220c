"""Monitor names are unique per project, not across projects; model_projects is indexed by
project (lists filter by it; a new model name counts the project's against its cap).

A name taken in one project was a 409 in another that named the first project's monitor.
Monitors now carry their model's project (backfilled from model_projects; ``default`` for a
model no key has claimed) and the unique key is (project_id, name).

Revision ID: c4d2e8a61f93
Revises: 8f3a6d1c0b57
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4d2e8a61f93"
down_revision: str | None = "8f3a6d1c0b57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add monitors.project_id, fill it, and move the unique key onto (project_id, name)."""
    op.add_column("monitors", sa.Column("project_id", sa.Integer()))
    op.execute("INSERT INTO projects (name) VALUES ('default') ON CONFLICT (name) DO NOTHING")
    op.execute(
        "UPDATE monitors m SET project_id = coalesce("
        "(SELECT mp.project_id FROM model_projects mp WHERE mp.model = m.model), "
        "(SELECT id FROM projects WHERE name = 'default'))"
    )
    op.alter_column("monitors", "project_id", nullable=False)
    op.create_foreign_key(
        "fk_monitors_project_id_projects", "monitors", "projects", ["project_id"], ["id"],
        ondelete="RESTRICT",
    )  # fmt: skip
    op.drop_constraint("uq_monitors_name", "monitors", type_="unique")
    op.create_unique_constraint("uq_monitors_project_id_name", "monitors", ["project_id", "name"])
    op.create_index("ix_model_projects_project_id", "model_projects", ["project_id"])


def downgrade() -> None:
    """Back to globally unique names (fails if two projects share one)."""
    op.drop_index("ix_model_projects_project_id", "model_projects")
    op.drop_constraint("uq_monitors_project_id_name", "monitors", type_="unique")
    op.create_unique_constraint("uq_monitors_name", "monitors", ["name"])
    op.drop_constraint("fk_monitors_project_id_projects", "monitors", type_="foreignkey")
    op.drop_column("monitors", "project_id")
