"""Model versions record the dataset they are to be trained on.

`driftline export dataset --for-version V` stores its manifest's summary on the version's
row, so that status can show V's training, validation and production scores beside where
its training data came from.

Revision ID: e3b8f5a21c47
Revises: d7a4c2e9f106
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "e3b8f5a21c47"
down_revision: str | None = "d7a4c2e9f106"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add models.dataset (NULL until a dataset is exported for the version)."""
    op.add_column("models", sa.Column("dataset", JSONB()))


def downgrade() -> None:
    """Drop it."""
    op.drop_column("models", "dataset")
