"""Prediction rules: how a model's class label is read from its output.

Services traced with OpenTelemetry (or logging plain text) send the answer but no separate
prediction; a rule per model (the whole output, a JSON field, or a regular expression) fills
``events.prediction`` at ingest so label drift and quality work for them too.

Revision ID: d7a4c2e9f106
Revises: 9c4e1f7a3b28
Create Date: 2026-11-27 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7a4c2e9f106"
down_revision: str | None = "9c4e1f7a3b28"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create prediction_rules."""
    op.create_table(
        "prediction_rules",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("field", sa.String(200), nullable=True),
        sa.Column("pattern", sa.String(500), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("prediction_rules")
