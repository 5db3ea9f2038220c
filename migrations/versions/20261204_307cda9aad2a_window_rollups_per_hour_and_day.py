"""Windows summarised per hour and per day (window_rollups), for charts over long ranges;
filled here from the windows already stored (the worker keeps them current from now on).

The fill is a frozen copy of ``app.monitoring.runs.rollups``' aggregation, done for every
bucket at once: one pass over monitor_runs and the window-level metric values (a million
windows take about a minute).

Revision ID: 307cda9aad2a
Revises: e7b3c1a9d2f4
Create Date: 2026-12-04 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "307cda9aad2a"
down_revision: str | None = "e7b3c1a9d2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ORIGIN = "TIMESTAMPTZ '2001-01-01 00:00+00'"
_FINITE = "{0} NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)"
# Every row of v (bucket, check, metric, sums) into {check: {metric: [...]}} per bucket, then
# the bucket's row.
_WRITE = """
, by_check AS (
    SELECT monitor_id, s, "check",
           jsonb_object_agg(metric, jsonb_build_array(n, total, lo, hi, t_total, t_n)) AS m
    FROM v GROUP BY monitor_id, s, "check"
), metrics AS (
    SELECT monitor_id, s, jsonb_object_agg("check", m) AS m FROM by_check GROUP BY monitor_id, s
), verdicts AS (
    SELECT monitor_id, s, jsonb_object_agg(verdict, n) AS v FROM vc GROUP BY monitor_id, s
)
INSERT INTO window_rollups (monitor_id, bucket_seconds, bucket_start, windows, verdicts,
                            n_events, n_labels, metrics)
SELECT sums.monitor_id, {size}, sums.s, sums.windows, coalesce(verdicts.v, '{{}}'),
       sums.n_events, sums.n_labels, coalesce(metrics.m, '{{}}')
FROM sums LEFT JOIN verdicts USING (monitor_id, s) LEFT JOIN metrics USING (monitor_id, s)
"""


def upgrade() -> None:
    """Create window_rollups and fill it: hours from windows, days from hours."""
    op.create_table(
        "window_rollups",
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("bucket_seconds", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("windows", sa.Integer(), nullable=False),
        sa.Column("verdicts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("n_events", sa.BigInteger(), nullable=False),
        sa.Column("n_labels", sa.BigInteger(), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name="fk_window_rollups_monitor_id_monitors",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "monitor_id", "bucket_seconds", "bucket_start", name="pk_window_rollups"
        ),
    )
    op.execute(
        f"""
        WITH w AS (
            SELECT r.id, r.monitor_id, date_bin('1 hour', r.window_start, {_ORIGIN}) AS s,
                   coalesce(r.verdict, r.status) AS verdict, r.n_events, r.n_labels
            FROM monitor_runs r WHERE r.status IN ('done', 'insufficient_data')
        ), v AS (
            SELECT w.monitor_id, w.s, mv."check", mv.metric, count(*) AS n,
                   sum(mv.value) AS total, min(mv.value) AS lo, max(mv.value) AS hi,
                   coalesce(sum(mv.threshold) FILTER (WHERE {_FINITE.format("mv.threshold")}),
                            0) AS t_total,
                   count(mv.threshold) FILTER (WHERE {_FINITE.format("mv.threshold")}) AS t_n
            FROM metric_values mv JOIN w ON w.id = mv.run_id
            WHERE mv.feature IS NULL AND mv.value IS NOT NULL AND {_FINITE.format("mv.value")}
            GROUP BY w.monitor_id, w.s, mv."check", mv.metric
        ), sums AS (
            SELECT monitor_id, s, count(*) AS windows, coalesce(sum(n_events), 0) AS n_events,
                   coalesce(sum(n_labels), 0) AS n_labels
            FROM w GROUP BY monitor_id, s
        ), vc AS (
            SELECT monitor_id, s, verdict, count(*) AS n FROM w GROUP BY monitor_id, s, verdict
        )
        {_WRITE.format(size=3600)}
        """
    )
    op.execute(
        f"""
        WITH h AS (
            SELECT r.*, date_bin('1 day', r.bucket_start, {_ORIGIN}) AS s
            FROM window_rollups r WHERE r.bucket_seconds = 3600
        ), v AS (
            SELECT h.monitor_id, h.s, c.key AS "check", m.key AS metric,
                   sum(CAST(m.value->>0 AS float8)) AS n,
                   sum(CAST(m.value->>1 AS float8)) AS total,
                   min(CAST(m.value->>2 AS float8)) AS lo, max(CAST(m.value->>3 AS float8)) AS hi,
                   sum(CAST(m.value->>4 AS float8)) AS t_total,
                   sum(CAST(m.value->>5 AS float8)) AS t_n
            FROM h, jsonb_each(h.metrics) c, jsonb_each(c.value) m
            GROUP BY h.monitor_id, h.s, c.key, m.key
        ), sums AS (
            SELECT monitor_id, s, sum(windows) AS windows, sum(n_events) AS n_events,
                   sum(n_labels) AS n_labels
            FROM h GROUP BY monitor_id, s
        ), vc AS (
            SELECT h.monitor_id, h.s, x.key AS verdict, sum(CAST(x.value AS int)) AS n
            FROM h, jsonb_each_text(h.verdicts) x GROUP BY h.monitor_id, h.s, x.key
        )
        {_WRITE.format(size=86400)}
        """
    )


def downgrade() -> None:
    """Drop the summaries (the windows they came from stay)."""
    op.drop_table("window_rollups")
