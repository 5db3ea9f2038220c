"""Long horizons: a model page over a year of one-minute windows.

One monitor with 525,600 one-minute windows (a year), each with the dozen window-level
numbers a real window stores (drift scores with thresholds, estimated quality with its
interval, long tail, perplexity, data quality): 6.3 million metric values. The hour and day
summaries are made by the worker's own ``refresh_rollups``, one call per hour as the storing
of that hour's last window would. Measured through a real ``driftline api``:

- the model page over a year (charted by day), a week (by hour), a day (by hour) and with no
  range (its newest 500 windows);
- what a year's chart costs without summaries: the same per-day means, minimums and maximums
  aggregated from the windows' metric values in PostgreSQL (the alternative measured);
- what a stored window pays for its summaries: ``refresh_rollups`` (its hour and its day).

    python -m bench.horizon                 # a year (about 6 minutes to seed)
    python -m bench.horizon --days 30
Last line: ``horizon_windows=… horizon_year_page_ms=… horizon_from_windows_ms=…
horizon_week_page_ms=… horizon_day_page_ms=… horizon_latest_page_ms=… horizon_refresh_ms=…``
"""

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
from sqlalchemy import create_engine, text

from app.auth.keys import create_key
from app.db.session import make_sessionmaker, session_scope
from app.monitoring.runs.rollups import refresh_rollups
from bench.ui import median_ms, sign_in
from tests.pg import scratch_database
from tests.processes import driftline_api, driftline_env

DAYS = 365
_MONITOR = """
INSERT INTO projects (name) VALUES ('default') ON CONFLICT DO NOTHING;
INSERT INTO models (name, version) VALUES ('year-bot', '');
INSERT INTO baselines (model, name, source, embedder, record_count, status)
    VALUES ('year-bot', 'holdout', 'upload', 'tfidf', 500, 'ready');
INSERT INTO monitors (name, project_id, model, baseline_id, window_seconds, start_at,
                      planned_until)
    SELECT 'year-bot-1m', (SELECT id FROM projects WHERE name = 'default'), 'year-bot', id, 60,
           :start, :end FROM baselines
"""
# A day of windows: calm numbers with a daily rhythm, 2 % warnings, a drift every ~2 days.
_DAY_OF_WINDOWS = """
INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end, status, verdict,
                          n_events, n_labels, finished_at)
SELECT m.id, m.baseline_id, s, s + interval '1 minute', 'done',
       CASE WHEN hashint4(k) % 2900 = 0 THEN 'drift' WHEN hashint4(k) % 50 = 0 THEN 'warning'
            ELSE 'ok' END, 30 + k % 7, k % 3, s + interval '70 seconds'
FROM monitors m, generate_series(0, 1439) k,
     LATERAL (SELECT CAST(:day AS timestamptz) + k * interval '1 minute' AS s) t;
INSERT INTO metric_values (run_id, "check", metric, value, threshold)
SELECT r.id, x.c, x.m, x.base + x.amp * sin(extract(epoch FROM r.window_start) / 13751.0)
       + x.amp * ((hashint8(r.id) % 1000) / 1000.0), x.t
FROM monitor_runs r, (VALUES
    ('embedding_drift', 'centroid_shift', 0.10, 0.05, 0.26),
    ('descriptor_drift', 'drifted_share', 0.05, 0.05, 0.3),
    ('text_drift', 'roc_auc', 0.55, 0.05, 0.7),
    ('prediction_drift', 'js_distance', 0.2, 0.05, 0.1),
    ('estimated_quality', 'estimated_f1', 0.8, 0.05, NULL),
    ('estimated_quality', 'estimated_f1_ci_low', 0.7, 0.05, NULL),
    ('estimated_quality', 'estimated_f1_ci_high', 0.9, 0.05, NULL),
    ('estimated_quality', 'baseline_estimated_f1', 0.82, 0.0, NULL),
    ('long_tail', 'novel_share', 0.02, 0.02, 0.036),
    ('perplexity', 'mean', 12.0, 3.0, NULL),
    ('data_quality', 'pii_rate', 0.0, 0.01, 0.05),
    ('uncertainty_drift', 'ks_distance', 0.02, 0.02, 0.03)
) AS x(c, m, base, amp, t)
WHERE r.window_start >= :day AND r.window_start < CAST(:day AS timestamptz) + interval '1 day'
"""
# The alternative to summaries: a year's per-day figures aggregated from the windows.
_FROM_WINDOWS = """
SELECT date_bin('1 day', r.window_start, TIMESTAMPTZ '2001-01-01') AS d, mv."check", mv.metric,
       avg(mv.value), min(mv.value), max(mv.value), avg(mv.threshold)
FROM monitor_runs r JOIN metric_values mv ON mv.run_id = r.id AND mv.feature IS NULL
WHERE r.monitor_id = (SELECT id FROM monitors) AND r.window_start >= :since
GROUP BY 1, 2, 3
"""


def main(days: int) -> None:
    """Seed, summarise, serve, time."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    out: dict[str, float] = {}
    with scratch_database("driftline_bench_horizon") as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            for statement in filter(str.strip, _MONITOR.split(";")):
                conn.execute(text(statement), {"start": start, "end": end})
            monitor = conn.execute(text("SELECT id FROM monitors")).scalar_one()
        t0 = time.perf_counter()
        for d in range(days):
            day = start + timedelta(days=d)
            with engine.begin() as conn:
                for statement in filter(str.strip, _DAY_OF_WINDOWS.split(";")):
                    conn.execute(text(statement), {"day": day})
            if d % 30 == 29 or d == days - 1:
                print(f"  seeded {d + 1} days of windows ({time.perf_counter() - t0:.0f} s)",
                      flush=True)  # fmt: skip
        t0 = time.perf_counter()
        refresh: list[float] = []
        with engine.connect() as conn:
            for h in range(days * 24):
                at = start + timedelta(hours=h, minutes=59)
                t1 = time.perf_counter()
                with conn.begin():
                    refresh_rollups(conn, monitor, at)
                refresh.append((time.perf_counter() - t1) * 1000)
        print(f"  summarised {days * 24} hours ({time.perf_counter() - t0:.0f} s)", flush=True)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
            windows = conn.execute(text("SELECT count(*) FROM monitor_runs")).scalar_one()
            values = conn.execute(text("SELECT count(*) FROM metric_values")).scalar_one()
            aggregated = []
            for _ in range(3):
                t1 = time.perf_counter()
                conn.execute(text(_FROM_WINDOWS), {"since": start}).all()
                aggregated.append((time.perf_counter() - t1) * 1000)
            out["from_windows_ms"] = statistics.median(aggregated)
        out["refresh_ms"] = statistics.median(refresh)
        with session_scope(make_sessionmaker(engine)) as session:
            _, key = create_key(session, name="bench", scopes=["read"])
        with (
            driftline_api(driftline_env(url)) as (base, _),
            httpx.Client(base_url=base, timeout=120) as client,
        ):
            sign_in(client, key)
            minute = "%Y-%m-%dT%H:%M"
            ranges = {
                "year": start, "week": end - timedelta(days=7), "day": end - timedelta(days=1)
            }  # fmt: skip
            for name, since in ranges.items():
                path = f"/models/year-bot?from={since:{minute}}&to={end:{minute}}"
                out[f"{name}_page_ms"] = median_ms(client, path)
                print(f"  {name}: {out[f'{name}_page_ms']:.0f} ms", flush=True)
            out["latest_page_ms"] = median_ms(client, "/models/year-bot")
        engine.dispose()

    print(f"windows: {windows:,}; window-level numbers: {values:,}")
    print(f"model page, a year by day:        {out['year_page_ms']:.0f} ms")
    print(f"  the same figures from windows:  {out['from_windows_ms']:.0f} ms (the query alone)")
    print(f"model page, a week by hour:       {out['week_page_ms']:.0f} ms")
    print(f"model page, a day by hour:        {out['day_page_ms']:.0f} ms")
    print(f"model page, newest 500 windows:   {out['latest_page_ms']:.0f} ms")
    print(f"summaries per stored window:      {out['refresh_ms']:.1f} ms")
    print(
        f"horizon_windows={windows} horizon_year_page_ms={out['year_page_ms']:.0f} "
        f"horizon_from_windows_ms={out['from_windows_ms']:.0f} "
        f"horizon_week_page_ms={out['week_page_ms']:.0f} "
        f"horizon_day_page_ms={out['day_page_ms']:.0f} "
        f"horizon_latest_page_ms={out['latest_page_ms']:.0f} "
        f"horizon_refresh_ms={out['refresh_ms']:.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=DAYS)
    main(parser.parse_args().days)
