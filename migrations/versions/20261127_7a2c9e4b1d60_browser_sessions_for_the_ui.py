"""Browser sessions for the web UI: a signed-in key, its CSRF token and expiry.

The cookie holds a random token; only its SHA-256 is stored, so a copy of the table signs
nobody in. Deleting a row signs that browser out; revoking the key ends its sessions.

Revision ID: 7a2c9e4b1d60
Revises: 5e0b7c1d2f93
Create Date: 2026-11-27 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a2c9e4b1d60"
down_revision: str | None = "5e0b7c1d2f93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create browser_sessions."""
    op.create_table(
        "browser_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column(
            "key_id", sa.Integer(), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_browser_sessions_expires_at", "browser_sessions", ["expires_at"])


def downgrade() -> None:
    """Drop browser_sessions."""
    op.drop_table("browser_sessions")
