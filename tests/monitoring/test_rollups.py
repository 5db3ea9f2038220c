"""Hour and day summaries of a monitor's windows: equal to the windows they summarise, whether
windows are added as first computed or refreshed as recomputed, kept so when windows are
stored at once, and filled the same way by the migration."""

import math
import random
import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import Connection, Engine, create_engine, text

from app.db.migrate import alembic_config, upgrade
from app.monitoring.runs.rollups import DAY, HOUR, add_to_rollups, refresh_rollups, rollups
from tests.pg import throwaway_database

ORIGIN = datetime(2026, 11, 1, 22, 50, tzinfo=UTC)  # not on a whole hour
VERDICTS = ["ok", "ok", "ok", "warning", "drift", "degraded"]


def seed_monitor(conn: Connection, window_minutes: int = 15) -> int:
    conn.execute(
        text(
            "INSERT INTO baselines (model, name, source, embedder, record_count, status) "
            "VALUES ('bot', 'b', 'upload', 'tfidf', 10, 'ready');"
            "INSERT INTO projects (name) VALUES ('default') ON CONFLICT DO NOTHING"
        )
    )
    return int(
        conn.execute(
            text(
                "INSERT INTO monitors (name, project_id, model, baseline_id, window_seconds, "
                "start_at) SELECT 'bot-m', (SELECT id FROM projects WHERE name = 'default'), "
                "'bot', id, :w, :o FROM baselines RETURNING id"
            ),
            {"w": window_minutes * 60, "o": ORIGIN},
        ).scalar_one()
    )


def add_window(conn: Connection, monitor: int, start: datetime, rng: random.Random) -> int:
    """A finished window with random numbers: some NaN or infinite, some without threshold,
    per-column values beside (never summarised), or a window without enough data."""
    insufficient = rng.random() < 0.15
    run = conn.execute(
        text(
            "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end, "
            "status, verdict, n_events, n_labels, finished_at) "
            "SELECT :m, baseline_id, :s, :e, :st, :v, :n, :l, now() FROM monitors "
            "WHERE id = :m RETURNING id"
        ),
        {"m": monitor, "s": start, "e": start + timedelta(minutes=15),
         "st": "insufficient_data" if insufficient else "done",
         "v": None if insufficient else rng.choice(VERDICTS),
         "n": rng.randint(0, 9) if insufficient else rng.randint(20, 500),
         "l": rng.randint(0, 20)},
    ).scalar_one()  # fmt: skip
    if insufficient:
        return int(run)
    values = [
        ("embedding_drift", "centroid_shift", None, rng.random(), 0.2),
        ("quality", "f1", None, rng.choice([rng.random(), float("nan")]), None),
        ("perplexity", "mean", None, rng.choice([rng.uniform(5, 50), float("inf")]), 60.0),
        ("descriptor_drift", "drift_score", "prompt_chars", rng.random(), 0.1),
    ]
    if rng.random() < 0.5:
        values.append(("judge", "pass_rate", None, rng.random(), rng.choice([0.7, None])))
    conn.execute(
        text(
            'INSERT INTO metric_values (run_id, "check", metric, feature, value, threshold) '
            "VALUES (:r, :c, :m, :f, :v, :t)"
        ),
        [{"r": run, "c": c, "m": m, "f": f, "v": v, "t": t} for c, m, f, v, t in values],
    )
    return int(run)


def add_first_computed(conn: Connection, monitor: int, run: int) -> None:
    """``add_to_rollups`` with what the worker stores for the run (as ``store_result`` does)."""
    start, verdict, n_events, n_labels = conn.execute(
        text(
            "SELECT window_start, coalesce(verdict, status), n_events, n_labels "
            "FROM monitor_runs WHERE id = :r"
        ),
        {"r": run},
    ).one()
    values = conn.execute(
        text(
            'SELECT "check", metric, feature, value, threshold FROM metric_values WHERE run_id = :r'
        ),
        {"r": run},
    ).all()
    add_to_rollups(conn, monitor, start, verdict=verdict, n_events=n_events,
                   n_labels=n_labels, values=[tuple(v) for v in values])  # fmt: skip


def expected(conn: Connection, monitor: int, size: int) -> dict[datetime, dict]:
    """The summaries computed the plain way: pandas over every window and number."""
    runs = pd.read_sql(
        text(
            "SELECT id, window_start, coalesce(verdict, status) AS verdict, n_events, "
            "n_labels FROM monitor_runs WHERE monitor_id = :m"
        ),
        conn,
        params={"m": monitor},
    )
    values = pd.read_sql(
        text(
            'SELECT run_id, "check", metric, value, threshold FROM metric_values '
            "WHERE feature IS NULL"
        ),
        conn,
    )
    epoch = datetime(2001, 1, 1, tzinfo=UTC)
    runs["bucket"] = [epoch + ((s - epoch) // timedelta(seconds=size)) * timedelta(seconds=size)
                      for s in runs.window_start]  # fmt: skip
    out: dict[datetime, dict] = {}
    for bucket, w in runs.groupby("bucket"):
        v = values[values.run_id.isin(w.id) & values.value.map(math.isfinite)]
        metrics: dict[str, dict[str, list[float]]] = {}
        for (check, metric), g in v.groupby(["check", "metric"]):
            t = g.threshold.dropna()
            metrics.setdefault(check, {})[metric] = [
                len(g),
                g.value.sum(),
                g.value.min(),
                g.value.max(),
                t.sum(),
                len(t),
            ]
        out[bucket.to_pydatetime()] = {
            "windows": len(w),
            "verdicts": w.verdict.value_counts().to_dict(),
            "n_events": int(w.n_events.sum()),
            "n_labels": int(w.n_labels.sum()),
            "metrics": metrics,
        }
    return out


def stored(conn: Connection, monitor: int, size: int) -> dict[datetime, dict]:
    got = rollups(conn, [monitor], bucket_seconds=size, per_monitor=10_000).get(monitor, [])
    return {
        r.bucket_start: {
            "windows": r.windows, "verdicts": r.verdicts, "n_events": r.n_events,
            "n_labels": r.n_labels, "metrics": r.metrics,
        }
        for r in got
    }  # fmt: skip


def recompute(
    conn: Connection, monitor: int, run_id: int, start: datetime, *, verdict: str, value: str
) -> None:
    """A late label's way: the window's verdict and numbers move (``value``: SQL of the old
    ``value``), then its hour and day are refreshed."""
    conn.execute(
        text("UPDATE monitor_runs SET verdict = :v WHERE id = :r"), {"v": verdict, "r": run_id}
    )
    conn.execute(text(f"UPDATE metric_values SET value = {value} WHERE run_id = :r"), {"r": run_id})
    refresh_rollups(conn, monitor, start)


def assert_same(got: dict[datetime, dict], want: dict[datetime, dict]) -> None:
    assert got.keys() == want.keys()
    for bucket, w in want.items():
        g = got[bucket]
        assert {k: g[k] for k in ("windows", "verdicts", "n_events", "n_labels")} == {
            k: w[k] for k in ("windows", "verdicts", "n_events", "n_labels")
        }, bucket
        assert g["metrics"].keys() == w["metrics"].keys(), bucket
        for check, metrics in w["metrics"].items():
            assert g["metrics"][check].keys() == metrics.keys()
            for metric, cells in metrics.items():
                for a, b in zip(g["metrics"][check][metric], cells, strict=True):
                    assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (bucket, metric)


def test_hours_and_days_summarise_exactly_their_windows_stored_in_any_order(
    engine: Engine,
) -> None:
    rng = random.Random(5)
    with engine.begin() as conn:
        monitor = seed_monitor(conn)
        starts = [ORIGIN + i * timedelta(minutes=15) for i in range(60 * 4)]  # 2½ days
        rng.shuffle(starts)  # backfills and late windows store out of order
        for s in starts:
            add_window(conn, monitor, s, rng)
            refresh_rollups(conn, monitor, s)
    with engine.connect() as conn:
        hours, days = stored(conn, monitor, HOUR), stored(conn, monitor, DAY)
        assert_same(hours, expected(conn, monitor, HOUR))
        assert_same(days, expected(conn, monitor, DAY))
    assert len(hours) == 61 and len(days) == 4  # 1 Nov 22:50 to 4 Nov 10:35
    assert sum(d["windows"] for d in days.values()) == 240
    # A window recomputed (a late label): its hour and day follow.
    with engine.begin() as conn:
        run_id, start = conn.execute(
            text("SELECT id, window_start FROM monitor_runs WHERE status = 'done' "
                 "ORDER BY window_start LIMIT 1 OFFSET 9")
        ).one()  # fmt: skip
        recompute(conn, monitor, run_id, start, verdict="degraded",
                  value="CASE WHEN metric = 'f1' THEN 7.5 ELSE value END")  # fmt: skip
    with engine.connect() as conn:
        assert_same(stored(conn, monitor, HOUR), expected(conn, monitor, HOUR))
        assert_same(stored(conn, monitor, DAY), expected(conn, monitor, DAY))
        top = max(r.metrics["quality"]["f1"][3] for r in rollups(
            conn, [monitor], bucket_seconds=DAY, per_monitor=10
        )[monitor])  # fmt: skip
    assert top == 7.5


def test_windows_added_as_first_computed_and_refreshed_as_recomputed_are_summarised_exactly(
    engine: Engine,
) -> None:
    """The worker's way: a window's first computation is added to its hour and day, a
    recomputation refreshes them; in any order, with windows added after a refresh."""
    rng = random.Random(11)
    starts = [ORIGIN + i * timedelta(minutes=15) for i in range(60 * 4)]
    rng.shuffle(starts)
    with engine.begin() as conn:
        monitor = seed_monitor(conn)
        for s in starts[:200]:
            add_first_computed(conn, monitor, add_window(conn, monitor, s, rng))
    with engine.connect() as conn:
        assert_same(stored(conn, monitor, HOUR), expected(conn, monitor, HOUR))
        assert_same(stored(conn, monitor, DAY), expected(conn, monitor, DAY))
    with engine.begin() as conn:  # late labels: some windows recomputed, their numbers moved
        for run_id, start in conn.execute(
            text("SELECT id, window_start FROM monitor_runs WHERE status = 'done' "
                 "ORDER BY window_start LIMIT 12")
        ).all():  # fmt: skip
            recompute(conn, monitor, run_id, start, verdict="drift", value="value * 3 - 1")
        for s in starts[200:]:  # then new windows, into refreshed hours and days too
            add_first_computed(conn, monitor, add_window(conn, monitor, s, rng))
    with engine.connect() as conn:
        hours, days = stored(conn, monitor, HOUR), stored(conn, monitor, DAY)
        assert_same(hours, expected(conn, monitor, HOUR))
        assert_same(days, expected(conn, monitor, DAY))
    assert sum(d["windows"] for d in days.values()) == 240


@pytest.mark.parametrize("first_computed", [True, False])
def test_windows_of_one_hour_stored_at_once_are_all_counted(
    engine: Engine, first_computed: bool
) -> None:
    """Two workers store windows of the same hour concurrently (added as first computed, or
    refreshed): neither summary may drop the other's window."""
    with engine.begin() as conn:
        monitor = seed_monitor(conn)
    first_stored = threading.Event()
    rng = random.Random(1)

    def store(start: datetime, hold: bool) -> None:
        with engine.begin() as conn:
            run = add_window(conn, monitor, start, rng)
            if first_computed:
                add_first_computed(conn, monitor, run)
            else:
                refresh_rollups(conn, monitor, start)
            if hold:  # the other worker stores meanwhile, before this one commits
                first_stored.set()
                threading.Event().wait(0.5)

    a = threading.Thread(target=store, args=(ORIGIN + timedelta(minutes=10), True))
    a.start()
    first_stored.wait(10)
    store(ORIGIN + timedelta(minutes=25), False)
    a.join()
    with engine.connect() as conn:
        (hour,) = rollups(conn, [monitor], bucket_seconds=HOUR, per_monitor=5)[monitor]
        (day,) = rollups(conn, [monitor], bucket_seconds=DAY, per_monitor=5)[monitor]
    assert hour.windows == 2 and day.windows == 2


def test_the_migration_fills_the_summaries_the_worker_would_have(pg_server_url: str) -> None:
    rng = random.Random(9)
    with throwaway_database(pg_server_url, prefix="driftline_rollup") as url:
        upgrade(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            monitor = seed_monitor(conn)
            for i in range(150):
                start = ORIGIN + i * timedelta(minutes=15)
                add_window(conn, monitor, start, rng)
                refresh_rollups(conn, monitor, start)
        with engine.connect() as conn:
            kept = (stored(conn, monitor, HOUR), stored(conn, monitor, DAY))
        with engine.begin() as conn:  # as an install upgrading with its windows stored
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "e7b3c1a9d2f4")
        upgrade(url)
        with engine.connect() as conn:
            filled = (stored(conn, monitor, HOUR), stored(conn, monitor, DAY))
        engine.dispose()
    for got, want in zip(filled, kept, strict=True):
        assert_same(got, want)
