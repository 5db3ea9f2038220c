"""Baseline records keep the model's confidence, for quality estimated without labels.

Estimating a window's accuracy and F1 from the model's confidence needs the baseline's
confidence next to its labels (to calibrate confidence into the chance of being right).

Revision ID: c41d9e27b5a0
Revises: af03722b8246
Create Date: 2026-11-27 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c41d9e27b5a0"
down_revision: str | None = "af03722b8246"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add baseline_records.confidence (NULL for records uploaded before)."""
    op.add_column("baseline_records", sa.Column("confidence", sa.Float()))


def downgrade() -> None:
    """Drop it."""
    op.drop_column("baseline_records", "confidence")
