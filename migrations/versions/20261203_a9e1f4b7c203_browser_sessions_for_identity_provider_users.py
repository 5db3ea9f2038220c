"""Browser sessions for people signed in through the identity provider (OIDC), not a key.

Such a session has no key: it carries the person's subject, the project and the scopes their
groups map to, decided at sign-in. A key's session keeps its key (and follows its
revocation); exactly one of the two is set.

Revision ID: a9e1f4b7c203
Revises: c4d2e8a61f93
Create Date: 2026-12-03 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a9e1f4b7c203"
down_revision: str | None = "c4d2e8a61f93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """key_id becomes optional; subject, project_id and scopes hold an OIDC user's grant."""
    op.alter_column("browser_sessions", "key_id", nullable=True)
    op.add_column("browser_sessions", sa.Column("subject", sa.String(320)))
    op.add_column(
        "browser_sessions",
        sa.Column(
            "project_id", sa.Integer(),
            sa.ForeignKey("projects.id", name="fk_browser_sessions_project_id_projects",
                          ondelete="CASCADE"),
        ),
    )  # fmt: skip
    op.add_column("browser_sessions", sa.Column("scopes", postgresql.ARRAY(sa.String(16))))
    op.create_check_constraint(
        "ck_browser_sessions_key_or_subject",
        "browser_sessions",
        "(key_id IS NULL) <> (subject IS NULL) AND (subject IS NULL OR scopes IS NOT NULL)",
    )


def downgrade() -> None:
    """Drop identity-provider sessions and their columns."""
    op.execute("DELETE FROM browser_sessions WHERE key_id IS NULL")
    op.drop_constraint("ck_browser_sessions_key_or_subject", "browser_sessions", type_="check")
    op.drop_column("browser_sessions", "scopes")
    op.drop_column("browser_sessions", "project_id")
    op.drop_column("browser_sessions", "subject")
    op.alter_column("browser_sessions", "key_id", nullable=False)
