"""Fleet benchmark: thousands of one-minute monitors on one machine's PostgreSQL.

2,000 models, each with its own baseline and a monitor of one-minute windows, each window
holding a little traffic (30 events of real health-news text), as a fleet of fine-tuned
variants would. Measured on a real ``driftline api`` and real ``driftline worker`` processes:

- planning: one scheduler tick when every monitor's window has just closed, and one when
  none has (``fleet_tick_ms`` is the former, the worst a tick does);
- claims per second (``claim_run`` against 2,000 pending windows);
- windows computed per worker-minute with 1 and with 2 worker processes (each on a backlog
  of one window per monitor), and their ratio;
- window close → stored result, p50 and p99, with 2 worker processes planning and computing
  a live minute of every monitor as it closes (unfinished windows at the deadline count as
  the deadline: a ``>`` in front says some were);
- ``/metrics``: scrape time (the median of scrapes each after a quarter of the monitors'
  latest windows were stored anew, as a 15 s scrape interval sees one-minute windows; and
  the first scrape of a process that started before the windows were stored, which formats
  everything; and the first scrape of a new api process, one scrape interval after it
  answers, as after a restart) and series count; the fleet page and a model page;
- then 200 busy models, each a window of 100,000 events: windows per worker-minute with 1
  and with 2 processes, the seconds one such window costs, and the close → done p50/p99 of
  all of them closing at once, with 2 processes (``fleet_big_*``).

The baseline is profiled once by the worker's own code and its profile copied to every
model's baseline (profiling 2,000 identical holdouts measures nothing new); events are
written straight into the tables and featurised before the clock starts.

    python -m bench.fleet                         # 2,000 + 200 big monitors (about an hour)
    python -m bench.fleet --monitors 200 --deadline 120 --big-monitors 0
Last line: ``fleet_monitors=… fleet_tick_ms=… fleet_close_to_done_p99_s=…
fleet_windows_per_worker_min=… fleet_metrics_scrape_ms=… fleet_page_ms=…`` and the rest.
"""

import argparse
import statistics
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import numpy as np
import pandas as pd
from sqlalchemy import Engine, create_engine, text

from app.auth.keys import create_key
from app.baselines.profiles import build_pending_profiles
from app.datasets import health_tweets
from app.db.partitions import ensure_day_partitions
from app.db.session import make_sessionmaker, session_scope
from app.engine.descriptors import FEATURE_COLUMNS, compute_descriptors
from app.jobs.featurise import featurise_pending
from app.monitoring.runs import claim_run, plan_due_windows
from bench.ui import median_ms, sign_in
from tests.pg import scratch_database
from tests.processes import driftline_api, driftline_cli, driftline_env

MONITORS = 2_000
SCRAPE_INTERVAL_SECONDS = 15  # deploy/prometheus/prometheus.yml
EVENTS_PER_WINDOW = 30
BASELINE_RECORDS = 500
DELAY_SECONDS = 5
MINUTE = timedelta(minutes=1)

_TEXTS = "CREATE TABLE bench_texts (i int PRIMARY KEY, prompt text, outlet text)"
_MONITORS = """
INSERT INTO models (name, version) SELECT 'fleet-' || i, '' FROM generate_series(1, :n) i;
INSERT INTO baselines (model, name, source, embedder, record_count, status, summary, profile)
    SELECT 'fleet-' || i, 'holdout', b.source, b.embedder, b.record_count, b.status, b.summary,
           b.profile
    FROM generate_series(1, :n) i, baselines b WHERE b.id = :template;
INSERT INTO monitors (name, project_id, model, baseline_id, window_seconds, delay_seconds,
                      min_events, start_at, planned_until)
    SELECT 'fleet-' || i || '-1m', (SELECT id FROM projects WHERE name = 'default'),
           'fleet-' || i, b.id, 60, :delay, 20, :start, :planned
    FROM generate_series(1, :n) i JOIN baselines b ON b.model = 'fleet-' || i
"""
# One window of every monitor: EVENTS_PER_WINDOW texts each, spread over the minute, as calm
# as most windows are (the baseline's topics and confidences): the cost of an ok window.
_WINDOW_EVENTS = """
INSERT INTO events (model, request_id, ts, prompt, output, prediction, confidence)
SELECT 'fleet-' || m, 'w' || :tag || '-' || m || '-' || k,
       CAST(:start AS timestamptz) + k * interval '1 second' * (55.0 / :per),
       t.prompt, 'Topic: ' || t.outlet, t.outlet, 0.5 + (t.i % 50) / 100.0
FROM generate_series(1, :n) m, generate_series(0, :per - 1) k, bench_texts t
WHERE t.i = (m * 7919 + k * 104729 + :salt) % :texts
"""


# Busy models: each monitor's window holds BIG_EVENTS events, over ten minutes.
BIG_MONITORS = 200
BIG_EVENTS = 100_000
BIG_WINDOW = timedelta(minutes=10)
_BIG_MONITORS = """
INSERT INTO models (name, version) SELECT 'big-' || i, '' FROM generate_series(1, :n) i;
INSERT INTO baselines (model, name, source, embedder, record_count, status, summary, profile)
    SELECT 'big-' || i, 'holdout', b.source, b.embedder, b.record_count, b.status, b.summary,
           b.profile
    FROM generate_series(1, :n) i, baselines b WHERE b.model = 'template';
INSERT INTO monitors (name, project_id, model, baseline_id, window_seconds, delay_seconds,
                      start_at, planned_until)
    SELECT 'big-' || i || '-10m', (SELECT id FROM projects WHERE name = 'default'),
           'big-' || i, b.id, 600, 0, :start, :planned
    FROM generate_series(1, :n) i JOIN baselines b ON b.model = 'big-' || i
"""
# One model's window; the text's index rides in the request id, for its features below.
_BIG_EVENTS = """
INSERT INTO events (model, request_id, ts, prompt, output, prediction, confidence)
SELECT :model, 'big-' || k || '-' || t.i,
       CAST(:start AS timestamptz) + k * interval '1 millisecond' * (590000.0 / :per),
       t.prompt, 'Topic: ' || t.outlet, t.outlet, 0.5 + (t.i % 50) / 100.0
FROM generate_series(0, :per - 1) k, bench_texts t
WHERE t.i = (k::bigint * 104729 + :salt) % :texts
"""
_BIG_FEATURES = f"""
INSERT INTO event_features (event_id, model, {", ".join(FEATURE_COLUMNS)})
SELECT e.id, e.model, {", ".join("f." + c for c in FEATURE_COLUMNS)}
FROM events e JOIN bench_features f ON f.i = split_part(e.request_id, '-', 3)::int
WHERE e.model = :model
"""


def _seed(engine: Engine, base: str, key: str, monitors: int, start: datetime) -> None:
    """A profiled template baseline (through the API), then every model's copy and monitor."""
    tweets = health_tweets(without_urls=True).sample(frac=1, random_state=0)
    tweets = tweets.reset_index(drop=True)
    records = [
        {
            "prompt": p,
            "output": f"Topic: {o}",
            "prediction": o,
            "label": o,
            "confidence": 0.5 + (i % 50) / 100,
        }
        for i, (p, o) in enumerate(
            zip(tweets.text[:BASELINE_RECORDS], tweets.outlet[:BASELINE_RECORDS], strict=True)
        )
    ]
    r = httpx.post(
        f"{base}/v1/baselines",
        json={"model": "template", "name": "holdout", "records": records},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert r.status_code == 202, r.text
    build_pending_profiles(engine)
    pool = tweets.iloc[BASELINE_RECORDS:].reset_index(drop=True)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (name) VALUES ('default') ON CONFLICT DO NOTHING"))
        conn.execute(text(_TEXTS))
        conn.execute(
            text("INSERT INTO bench_texts VALUES (:i, :p, :o)"),
            [
                {"i": i, "p": p, "o": o}
                for i, (p, o) in enumerate(zip(pool.text, pool.outlet, strict=True))
            ],
        )
        for statement in filter(str.strip, _MONITORS.split(";")):
            conn.execute(
                text(statement),
                {"n": monitors, "template": r.json()["id"], "delay": DELAY_SECONDS,
                 "start": start - 60 * MINUTE, "planned": start + 365 * 24 * 60 * MINUTE},
            )  # fmt: skip


@contextmanager
def seeded_fleet(
    prefix: str, monitors: int, now: datetime
) -> Iterator[tuple[Engine, str, str, str]]:
    """A scratch database holding ``monitors`` seeded one-minute monitors (``_seed``) with a
    real ``driftline api`` on it while the block runs: (engine, database url, api url, an
    admin key)."""
    with scratch_database(prefix) as url:
        engine = create_engine(url, pool_size=4)
        ensure_day_partitions(engine)
        with session_scope(make_sessionmaker(engine)) as session:
            _, key = create_key(session, name="bench", scopes=["admin"])
        try:
            with driftline_api(driftline_env(url)) as (base, _):
                _seed(engine, base, key, monitors, now)
                yield engine, url, base, key
        finally:
            engine.dispose()


def _add_window(engine: Engine, monitors: int, start: datetime, tag: str) -> None:
    with engine.begin() as conn:
        texts = conn.execute(text("SELECT count(*) FROM bench_texts")).scalar_one()
        conn.execute(
            text(_WINDOW_EVENTS),
            {"n": monitors, "per": EVENTS_PER_WINDOW, "start": start, "tag": tag,
             "salt": zlib.crc32(tag.encode()) % 1000, "texts": texts},
        )  # fmt: skip
    featurise_pending(engine, max_batches=10_000)


def _queue(engine: Engine, start: datetime, *, length: timedelta = MINUTE,
           names: str = "%") -> float:  # fmt: skip
    """One pending run per monitor named like ``names`` for the window starting at ``start``
    (any run there before is replaced), as if they all just closed; the time queued."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM monitor_runs WHERE window_start = :s"), {"s": start})
        conn.execute(
            text(
                "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end) "
                "SELECT id, baseline_id, :s, :e FROM monitors WHERE name LIKE :names"
            ),
            {"s": start, "e": start + length, "names": names},
        )
    return time.time()


def _finished(engine: Engine, start: datetime) -> list[float]:
    """Finish times (epoch seconds) of the window starting at ``start``, sorted."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT extract(epoch FROM finished_at) FROM monitor_runs "
                "WHERE window_start = :s AND status IN ('done', 'insufficient_data')"
            ),
            {"s": start},
        ).scalars()
        return sorted(float(t) for t in rows)


def _workers(url: str, processes: int) -> ExitStack:
    stack = ExitStack()
    # As docs/scaling.md sets up a fleet: reports for flagged windows only.
    env = driftline_env(url, worker_poll_seconds="1", window_reports="flagged")
    for _ in range(processes):
        stack.enter_context(driftline_cli("worker", env=env))
    return stack


def _throughput(engine: Engine, url: str, monitors: int, start: datetime, processes: int,
                duration: float, *, length: timedelta = MINUTE,
                names: str = "%") -> float:  # fmt: skip
    """Windows per minute per process, from the finish times of a backlog of ``monitors``
    windows (of ``length``, of the monitors named like ``names``) worked for ``duration``
    seconds (process start-up excluded)."""
    _queue(engine, start, length=length, names=names)
    with _workers(url, processes):
        until = time.monotonic() + duration
        while time.monotonic() < until and len(_finished(engine, start)) < monitors:
            time.sleep(2)
    done = _finished(engine, start)
    with engine.begin() as conn:  # what was left is not the next phase's business
        conn.execute(
            text("DELETE FROM monitor_runs WHERE window_start = :s AND status <> 'done'"),
            {"s": start},
        )
    return _rate(done, processes)


def _rate(done: list[float], processes: int) -> float:
    """Windows per minute per process, from sorted finish times (first to last)."""
    if len(done) < 2:
        return 0.0
    return (len(done) - 1) / (done[-1] - done[0]) * 60 / processes


def _live(engine: Engine, url: str, monitors: int, start: datetime, deadline: float
          ) -> tuple[list[float], int]:  # fmt: skip
    """Close → done seconds of a live minute of every monitor, 2 processes planning and
    computing it as it closes; and how many were left at the deadline."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE monitors SET planned_until = :s"), {"s": start})
    closes = (start + MINUTE + timedelta(seconds=DELAY_SECONDS)).timestamp()
    with _workers(url, 2):
        print(f"  waiting for the live window to close ({closes - time.time():.0f} s)")
        while time.time() < closes + deadline and len(_finished(engine, start)) < monitors:
            time.sleep(2)
    done = _finished(engine, start)
    return [t - closes for t in done], monitors - len(done)


def _tick_ms(engine: Engine, at: datetime) -> tuple[float, int]:
    t0 = time.perf_counter()
    created = plan_due_windows(engine, max_pending=1_000, now=at)
    return (time.perf_counter() - t0) * 1000, created


def _claims_per_s(engine: Engine, claims: int) -> float:
    t0 = time.perf_counter()
    for _ in range(claims):
        assert claim_run(engine, lease_seconds=600, worker="bench") is not None
    rate = claims / (time.perf_counter() - t0)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM monitor_runs WHERE status IN ('pending', 'running')"))
    return rate


def _scrape_ms(client: httpx.Client) -> tuple[float, str]:
    t0 = time.perf_counter()
    body = client.get("/metrics").text
    return (time.perf_counter() - t0) * 1000, body


def _first_scrape_after_restart(url: str) -> float:
    """A new api process on the fleet's database, scraped one shipped scrape interval (15 s)
    after it answers, as Prometheus does after a restart (it formats the latest windows as
    it starts)."""
    with driftline_api(driftline_env(url)) as (base, _), httpx.Client(base_url=base) as client:
        time.sleep(SCRAPE_INTERVAL_SECONDS)
        return _scrape_ms(client)[0]


def _store_again(engine: Engine, quarter: int) -> None:
    """A quarter of the monitors' latest windows stored anew, as between two scrapes 15 s
    apart with one-minute windows: the collector must read and format those again."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE monitor_runs r SET finished_at = r.finished_at FROM ("
                "  SELECT DISTINCT ON (monitor_id) id FROM monitor_runs WHERE status = 'done' "
                "  AND monitor_id % 4 = :q ORDER BY monitor_id, window_start DESC) latest "
                "WHERE r.id = latest.id"
            ),
            {"q": quarter},
        )


def _series(body: str) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith("#"))


def _seed_big(engine: Engine, monitors: int, per: int, start: datetime) -> None:
    """``monitors`` busy models with their monitors, and one window of ``per`` events each,
    featurised as the featuriser would (each pool text's descriptors computed once)."""
    with engine.connect() as conn:
        pool = pd.read_sql(text("SELECT i, prompt, outlet FROM bench_texts ORDER BY i"), conn)
    pool["output"] = "Topic: " + pool["outlet"]
    pool["finish_reason"] = None
    features = compute_descriptors(pool)[list(FEATURE_COLUMNS)]
    features.insert(0, "i", pool["i"])
    with engine.begin() as conn:
        features.to_sql("bench_features", conn, index=False)
        conn.execute(text("CREATE UNIQUE INDEX ON bench_features (i)"))
        for statement in filter(str.strip, _BIG_MONITORS.split(";")):
            conn.execute(
                text(statement),
                {"n": monitors, "start": start - BIG_WINDOW,
                 "planned": start + 365 * 24 * 60 * MINUTE},
            )  # fmt: skip
        texts = conn.execute(text("SELECT count(*) FROM bench_texts")).scalar_one()
    t0 = time.monotonic()
    for m in range(1, monitors + 1):
        model = f"big-{m}"
        with engine.begin() as conn:
            conn.execute(
                text(_BIG_EVENTS),
                {"model": model, "start": start, "per": per, "salt": m * 7919, "texts": texts},
            )
            conn.execute(text(_BIG_FEATURES), {"model": model})
        if m % 10 == 0 or m == monitors:
            print(f"  {m * per:,} events of {monitors} busy models written "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)  # fmt: skip
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) events, event_features, event_keys"))


def _big(engine: Engine, url: str, monitors: int, start: datetime, duration: float,
         deadline: float) -> dict[str, Any]:  # fmt: skip
    """Windows per worker-minute of busy windows with 1 process (``duration`` s) and 2, and
    close → done of every window closing at once with 2 (until ``deadline``)."""
    out: dict[str, Any] = {}
    out["rate_1"] = _throughput(
        engine, url, monitors, start, 1, duration, length=BIG_WINDOW, names="big-%"
    )
    with engine.connect() as conn:
        seconds = conn.execute(
            text(
                "SELECT (timings->>'total')::float FROM monitor_runs "
                "WHERE window_start = :s AND status = 'done'"
            ),
            {"s": start},
        ).scalars().all()  # fmt: skip
    out["window_s"] = statistics.median(seconds) if seconds else float("nan")
    print(f"  busy windows, 1 process: {out['rate_1']:.2f} windows/min "
          f"({out['window_s']:.1f} s each)", flush=True)  # fmt: skip
    queued = _queue(engine, start, length=BIG_WINDOW, names="big-%")
    with _workers(url, 2):
        while time.time() < queued + deadline and len(_finished(engine, start)) < monitors:
            time.sleep(2)
    done = _finished(engine, start)
    out["rate_2"] = _rate(done, 2)
    lat = np.array([t - queued for t in done] + [deadline] * (monitors - len(done)))
    out["p50"], out["p99"] = np.percentile(lat, 50), np.percentile(lat, 99)
    out["left"] = monitors - len(done)
    print(f"  busy windows, 2 processes: {out['rate_2']:.2f} windows/min each; all closing "
          f"at once: p50 {out['p50']:.0f} s, p99 {out['p99']:.0f} s "
          f"({out['left']} unfinished at {deadline:.0f} s)", flush=True)  # fmt: skip
    return out


def _bound(seconds: float, deadline: float) -> str:
    """A latency percentile as printed: one that falls among the windows unfinished at the
    deadline is only a lower bound (a ``>`` in front)."""
    return f"{'>' if seconds >= deadline else ''}{seconds:.0f}"


def _big_keys(big: dict[str, Any], monitors: int, events: int, deadline: float) -> str:
    """The busy models' keys for the last line (empty when that phase was skipped)."""
    if not big:
        return ""
    scaling = big["rate_2"] * 2 / big["rate_1"] if big["rate_1"] else 0.0
    p50, p99 = _bound(big["p50"], deadline), _bound(big["p99"], deadline)
    return (
        f" fleet_big_monitors={monitors} fleet_big_events={events} "
        f"fleet_big_window_s={big['window_s']:.1f} "
        f"fleet_big_windows_per_worker_min={big['rate_1']:.2f} "
        f"fleet_big_windows_per_worker_min_2={big['rate_2']:.2f} "
        f"fleet_big_scaling_2={scaling:.2f} fleet_big_close_to_done_p50_s={p50} "
        f"fleet_big_close_to_done_p99_s={p99}"
    )


def main(monitors: int, duration: float, deadline: float, big_monitors: int = 0,
         big_events: int = BIG_EVENTS, big_duration: float = 180.0,
         big_deadline: float = 1800.0) -> None:  # fmt: skip
    """Seed, then each measurement in turn (progress printed)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    out: dict[str, Any] = {}
    with seeded_fleet("driftline_bench_fleet", monitors, now) as (engine, url, base, key):
        print(f"seeded {monitors} monitors", flush=True)

        # Planning: every monitor's window closes at once, then nothing is due.
        with engine.begin() as conn:
            conn.execute(text("UPDATE monitors SET planned_until = :s"), {"s": now - MINUTE})
        out["tick_ms"], created = _tick_ms(engine, now + timedelta(seconds=DELAY_SECONDS))
        assert created == monitors, created
        out["idle_tick_ms"], created = _tick_ms(engine, now + timedelta(seconds=30))
        assert created == 0, created
        out["claims_per_s"] = _claims_per_s(engine, min(monitors, 500))
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM monitor_runs"))
            conn.execute(text("UPDATE monitors SET planned_until = :f"),
                         {"f": now + 365 * 24 * 60 * MINUTE})  # fmt: skip
        print(f"  tick {out['tick_ms']:.0f} ms (idle {out['idle_tick_ms']:.0f} ms), "
              f"{out['claims_per_s']:.0f} claims/s", flush=True)  # fmt: skip

        for processes, minutes_ago in ((1, 4), (2, 3)):
            start = now - minutes_ago * MINUTE
            _add_window(engine, monitors, start, f"b{processes}")
            rate = _throughput(engine, url, monitors, start, processes, duration)
            out[f"rate_{processes}"] = rate
            print(f"  {processes} worker process(es): {rate:.1f} windows/min each",
                  flush=True)  # fmt: skip

        live = datetime.now(UTC).replace(second=0, microsecond=0) + MINUTE
        _add_window(engine, monitors, live, "live")
        latencies, left = _live(engine, url, monitors, live, deadline)
        lat = np.array(latencies + [deadline] * left)
        out["p50"], out["p99"] = np.percentile(lat, 50), np.percentile(lat, 99)
        out["left"] = left

        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM monitor_runs")).scalar_one()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # The live phase's writes leave autovacuum busy for a while: measure the
            # steady state it brings, not its work competing for the two cores.
            conn.execute(text("VACUUM (ANALYZE)"))
        with httpx.Client(base_url=base, timeout=60) as client:
            sign_in(client, key)
            out["page_ms"] = median_ms(client, "/")
            out["model_ms"] = median_ms(client, "/models/fleet-1")
            out["cold_ms"], body = _scrape_ms(client)
            out["restart_ms"] = _first_scrape_after_restart(url)
            scrape = [0.0] * 8
            for i in range(8):
                _store_again(engine, quarter=i % 4)
                scrape[i], body = _scrape_ms(client)
            out["scrape_ms"], out["series"] = statistics.median(scrape), _series(body)

        big: dict[str, Any] = {}
        if big_monitors:
            with engine.begin() as conn:  # the small fleet rests: its minutes are not this
                conn.execute(text("UPDATE monitors SET enabled = false"))
                conn.execute(text("DELETE FROM monitor_runs WHERE status = 'pending'"))
            big_start = now - 6 * BIG_WINDOW
            _seed_big(engine, big_monitors, big_events, big_start)
            big = _big(engine, url, big_monitors, big_start, big_duration, big_deadline)

    scaling = out["rate_2"] * 2 / out["rate_1"] if out["rate_1"] else 0.0
    p50, p99 = _bound(out["p50"], deadline), _bound(out["p99"], deadline)
    print(f"monitors:                               {monitors}")
    print(f"tick, every window closed / none:       {out['tick_ms']:.0f} / "
          f"{out['idle_tick_ms']:.0f} ms")  # fmt: skip
    print(f"claims per second:                      {out['claims_per_s']:.0f}")
    print(f"windows per worker-minute, 1 process:   {out['rate_1']:.1f}")
    print(f"windows per worker-minute, 2 processes: {out['rate_2']:.1f} "
          f"(throughput x{scaling:.2f} of one)")  # fmt: skip
    print(f"close -> done, 2 processes: p50 {p50} s, p99 {p99} s"
          f" ({out['left']} of {monitors} unfinished at {deadline:.0f} s)")  # fmt: skip
    print(f"/metrics: {out['scrape_ms']:.0f} ms with a quarter of the windows new since the "
          f"last scrape ({out['cold_ms']:.0f} ms the process's first, {out['restart_ms']:.0f} ms "
          f"the first after a restart), {out['series']} series "
          f"({stored} windows stored)")  # fmt: skip
    print(f"fleet page {out['page_ms']:.0f} ms, model page {out['model_ms']:.0f} ms")
    print(
        f"fleet_monitors={monitors} fleet_tick_ms={out['tick_ms']:.0f} "
        f"fleet_close_to_done_p99_s={p99} "
        f"fleet_windows_per_worker_min={out['rate_1']:.1f} "
        f"fleet_metrics_scrape_ms={out['scrape_ms']:.0f} fleet_page_ms={out['page_ms']:.0f} "
        f"fleet_idle_tick_ms={out['idle_tick_ms']:.0f} "
        f"fleet_claims_per_s={out['claims_per_s']:.0f} "
        f"fleet_windows_per_worker_min_2={out['rate_2']:.1f} fleet_scaling_2={scaling:.2f} "
        f"fleet_close_to_done_p50_s={p50} fleet_metrics_series={out['series']} "
        f"fleet_model_page_ms={out['model_ms']:.0f} "
        f"fleet_metrics_first_scrape_ms={out['cold_ms']:.0f} "
        f"fleet_metrics_restart_scrape_ms={out['restart_ms']:.0f}"
        + _big_keys(big, big_monitors, big_events, big_deadline)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitors", type=int, default=MONITORS)
    parser.add_argument("--duration", type=float, default=180.0,
                        help="seconds each throughput phase works its backlog")  # fmt: skip
    parser.add_argument("--deadline", type=float, default=900.0,
                        help="seconds after the live window closes to wait for it")  # fmt: skip
    parser.add_argument("--big-monitors", type=int, default=BIG_MONITORS,
                        help="busy models, a big window each (0: skip that phase)")  # fmt: skip
    parser.add_argument("--big-events", type=int, default=BIG_EVENTS,
                        help="events in each busy model's window")  # fmt: skip
    parser.add_argument("--big-duration", type=float, default=180.0,
                        help="seconds one process works the busy models' backlog")  # fmt: skip
    parser.add_argument("--big-deadline", type=float, default=1800.0,
                        help="seconds to wait for every busy window closing at once")  # fmt: skip
    args = parser.parse_args()
    main(args.monitors, args.duration, args.deadline, args.big_monitors, args.big_events,
         args.big_duration, args.big_deadline)  # fmt: skip
