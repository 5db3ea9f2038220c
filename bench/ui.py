"""UI benchmark: server time of every page with 1,000 models and 10 million events stored,
on a real ``driftline api`` process and real PostgreSQL: the fleet page, the model page of a
monitor with 2,000 computed windows, a window page, the events page with a filter and with a
search, an event page, and ``GET /v1/events``; then with 50,000 models, ``GET /v1/models``
and the fleet page (each one bounded page).

Runs and events are written straight into the tables (computing 25,000 windows would take
hours and measures the engine, not the pages): each run with a verdict, check statuses, 40
window-level numbers and 60 per-column ones, as the worker stores them; half the events
belong to one busy model (500,000 a day over ten days), the rest spread over the others. The
ceiling in the same run is a bare ``/healthz`` round trip on the same server.

    python -m bench.ui                      # 10 million events (about 10 minutes to seed)
    python -m bench.ui --events 1000000     # a quicker look
    python -m bench.ui --screenshots URL KEY   # docs/img/ui-*.png from a running Driftline
                                               # (after `driftline demo`), in Chromium
Last line: ``ui_events_page_ms=… ui_event_ms=… ui_fleet_1000_ms=… api_events_page_ms=…``
and the rest (medians of 30 requests).
"""

import argparse
import re
import shutil
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
from sqlalchemy import create_engine, text

from app.auth.keys import create_key
from app.db.partitions import create_day_partition
from app.db.session import make_sessionmaker, session_scope
from tests.pg import scratch_database
from tests.processes import driftline_api, driftline_env

MODELS = 1_000
MANY_MODELS = 50_000  # names only: /v1/models and the fleet page must stay one page
STRIP_RUNS = 24  # each fleet model's monitor
HISTORY_RUNS = 2_000  # the big monitor
REQUESTS = 30
EVENTS = 10_000_000
DAYS = 10
FIRST_DAY = date(2026, 11, 1)
BUSY = "model-1"  # half of all events

# Events: half to the busy model, the rest round-robin over the others; a spread of ts
# over the days; four classes, 50 tenants, a label on every 20th, a hash in each text so
# that a search must read it (their keys are written by the insert, as at ingest).
_MODEL_OF = "CASE WHEN i % 2 = 0 THEN :busy ELSE 'model-' || (2 + (i / 2) % (:models - 1)) END"
_TS_OF = "CAST(:t0 AS timestamptz) + (i::float8 / :n) * (:days * interval '1 day')"
_EVENTS = f"""
INSERT INTO events (model, request_id, ts, prompt, output, prediction, confidence, metadata)
SELECT {_MODEL_OF}, 'r' || i, {_TS_OF},
       'question ' || i || ' about '
           || (ARRAY['refunds', 'delivery', 'billing', 'login'])[1 + i % 4] || ' ' || md5(i::text),
       'answer ' || md5((i * 7)::text),
       (ARRAY['refund', 'shipping', 'invoice', 'account'])[1 + (i / 3) % 4],
       ((i % 97) / 97.0)::float8,
       jsonb_build_object('tenant', 'tenant-' || i % 50)
FROM generate_series(:lo, :hi - 1) AS i;
INSERT INTO feedback (model, request_id, label)
SELECT {_MODEL_OF}, 'r' || i, (ARRAY['refund', 'shipping', 'invoice', 'account'])[1 + i % 4]
FROM generate_series(:lo, :hi - 1) AS i WHERE i % 20 = 0;
"""
_EVENT_BATCH = 1_000_000

_SEED = """
INSERT INTO models (name, version) SELECT 'model-' || i, '' FROM generate_series(1, :models) i;
INSERT INTO baselines (model, name, source, embedder, record_count, status)
    SELECT 'model-' || i, 'holdout', 'upload', 'tfidf', 1000, 'ready'
    FROM generate_series(1, :models) i;
INSERT INTO projects (name) VALUES ('default') ON CONFLICT DO NOTHING;
INSERT INTO monitors (name, project_id, model, baseline_id, window_seconds, start_at)
    SELECT 'model-' || i || '-hourly', (SELECT id FROM projects WHERE name = 'default'),
           'model-' || i, i, 3600, '2026-01-01'
    FROM generate_series(1, :models) i;
INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end, status, verdict,
                          n_events, n_labels, results, finished_at)
    SELECT m, m, w, w + interval '1 hour', 'done',
           (ARRAY['ok', 'ok', 'ok', 'warning', 'drift', 'degraded'])[1 + (m + k) % 6],
           1000, 50,
           jsonb_build_object('checks', jsonb_build_object(
               'quality', jsonb_build_object('status', 'ok', 'summary', 'within limits'),
               'descriptor_drift', jsonb_build_object('status', 'ok', 'summary', 'no drift'),
               'long_tail', jsonb_build_object('status', 'ok', 'summary', '1% novel',
                   'details', jsonb_build_object('top_novel', '[]'::jsonb))),
               'reasons', '[]'::jsonb, 'sampled_events', 1000),
           w + interval '70 minutes'
    FROM generate_series(1, :models) m,
         LATERAL generate_series(1, CASE WHEN m = 1 THEN :history ELSE :strip END) k,
         LATERAL (SELECT timestamptz '2026-01-01' + k * interval '1 hour' AS w) t;
INSERT INTO metric_values (run_id, "check", metric, feature, value, threshold, status)
    SELECT r.id, (ARRAY['quality', 'descriptor_drift', 'perplexity', 'long_tail',
                        'data_quality'])[1 + i % 5], 'metric_' || i, NULL, random(), 0.5, 'ok'
    FROM monitor_runs r, generate_series(1, 40) i WHERE r.monitor_id = 1;
INSERT INTO metric_values (run_id, "check", metric, feature, value, threshold, status)
    SELECT r.id, 'descriptor_drift', 'drift_score', 'column_' || j, random(), 0.1, 'ok'
    FROM monitor_runs r, generate_series(1, 60) j WHERE r.monitor_id = 1;
"""


def median_ms(client: httpx.Client, path: str) -> float:
    """Median wall time of ``REQUESTS`` GETs of ``path`` (after one warm-up)."""
    assert client.get(path).status_code == 200
    times = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, r.text[:200]
    return statistics.median(times)


def seed_events(engine: Any, events: int) -> None:
    """``events`` events over ``DAYS`` daily partitions, in batches (progress printed)."""
    with engine.begin() as conn:
        for day in range(DAYS):
            create_day_partition(conn, FIRST_DAY + timedelta(days=day))
    t0 = datetime.combine(FIRST_DAY, datetime.min.time(), UTC)
    started = time.perf_counter()
    for lo in range(0, events, _EVENT_BATCH):
        hi = min(events, lo + _EVENT_BATCH)
        with engine.begin() as conn:
            for statement in filter(str.strip, _EVENTS.split(";")):
                conn.execute(
                    text(statement),
                    {"busy": BUSY, "models": MODELS, "t0": t0, "n": events, "days": DAYS,
                     "lo": lo, "hi": hi},
                )  # fmt: skip
        print(f"  {hi:,} events ({time.perf_counter() - started:.0f} s)", flush=True)


def sign_in(client: httpx.Client, key: str) -> None:
    """A browser session for ``client`` (the login form and its CSRF token)."""
    form = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token
    signed = client.post("/login", data={"key": key, "csrf": token.group(1)})
    assert signed.status_code == 303, signed.text[:300]


def main(events: int) -> None:
    """Seed, serve, sign in, time the pages."""
    with scratch_database("driftline_bench_ui") as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            for statement in filter(str.strip, _SEED.split(";")):
                conn.execute(
                    text(statement),
                    {"models": MODELS, "strip": STRIP_RUNS, "history": HISTORY_RUNS},
                )
            runs = conn.execute(text("SELECT count(*) FROM monitor_runs")).scalar_one()
            values = conn.execute(text("SELECT count(*) FROM metric_values")).scalar_one()
            window = conn.execute(
                text("SELECT max(id) FROM monitor_runs WHERE monitor_id = 1")
            ).scalar_one()
        seed_events(engine, events)
        # What autovacuum does to an insert-mostly table soon after: statistics, and the
        # visibility map that lets the charts' covering index answer without the heap.
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        with session_scope(make_sessionmaker(engine)) as session:
            _, key = create_key(session, name="bench", scopes=["read"])
        print(
            f"seeded {MODELS} models, {runs} runs, {values} metric values, {events:,} events",
            flush=True,
        )
        # The busy model's last hour and last day, its newest event, a tenant.
        end = datetime.combine(FIRST_DAY + timedelta(days=DAYS), datetime.min.time(), UTC)
        hour = {"model": BUSY, "from": (end - timedelta(hours=1)).isoformat(),
                "to": end.isoformat()}  # fmt: skip
        day = {**hour, "from": (end - timedelta(days=1)).isoformat()}
        with engine.connect() as conn:
            newest = conn.execute(
                text("SELECT request_id FROM events WHERE model = :m ORDER BY ts DESC LIMIT 1"),
                {"m": BUSY},
            ).scalar_one()
        timed: dict[str, float] = {}
        with (
            driftline_api(driftline_env(url)) as (base, _),
            httpx.Client(base_url=base, timeout=60) as client,
            httpx.Client(
                base_url=base, timeout=60, headers={"Authorization": f"Bearer {key}"}
            ) as api,
        ):
            sign_in(client, key)
            timed["ceiling"] = median_ms(client, "/healthz")
            timed["fleet_1000"] = median_ms(client, "/")
            timed["model"] = median_ms(client, f"/models/{BUSY}?windows=2000")
            timed["window"] = median_ms(client, f"/windows/{window}")
            timed["events_filter"] = median_ms(
                client, "/events?" + urlencode({**day, "prediction": "invoice", "labelled": "yes"})
            )
            timed["events_search"] = median_ms(
                client, "/events?" + urlencode({**hour, "q": "delivery 9"})
            )
            timed["events_search_day"] = median_ms(
                client, "/events?" + urlencode({**day, "q": "billing", "metadata": "tenant:7"})
            )
            timed["event"] = median_ms(client, f"/events/{BUSY}/{newest}")
            timed["api_events"] = median_ms(api, "/v1/events?" + urlencode(day))
            cursor = api.get("/v1/events", params=day).json()["next_cursor"]
            timed["api_events_next"] = median_ms(
                api, "/v1/events?" + urlencode({**day, "cursor": cursor})
            )
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO models (name, version) SELECT 'bulk-' || i, '' "
                        "FROM generate_series(1, :n) i"
                    ),
                    {"n": MANY_MODELS - MODELS},
                )
            timed["api_models_50k"] = median_ms(api, "/v1/models")
            models_page = api.get("/v1/models").content
            timed["fleet_50k"] = median_ms(client, "/")
            fleet_page = client.get("/").content
        engine.dispose()
    print(f"fleet page, {MODELS} models:                 {timed['fleet_1000']:7.1f} ms")
    print(f"model page, {HISTORY_RUNS} windows charted:       {timed['model']:7.1f} ms")
    print(f"window page:                            {timed['window']:7.1f} ms")
    print(f"events page, a day, class + labelled:   {timed['events_filter']:7.1f} ms")
    print(f"events page, an hour, search:           {timed['events_search']:7.1f} ms")
    print(f"events page, a day, search + tenant:    {timed['events_search_day']:7.1f} ms")
    print(f"event page:                             {timed['event']:7.1f} ms")
    print(f"GET /v1/events, a day, first page:      {timed['api_events']:7.1f} ms")
    print(f"GET /v1/events, next page:              {timed['api_events_next']:7.1f} ms")
    print(f"GET /v1/models, {MANY_MODELS} models:         {timed['api_models_50k']:7.1f} ms "
          f"({len(models_page) / 1024:.0f} KB)")  # fmt: skip
    print(f"fleet page, {MANY_MODELS} models:            {timed['fleet_50k']:7.1f} ms "
          f"({len(fleet_page) / 1024:.0f} KB)")  # fmt: skip
    print(f"bare /healthz round trip (ceiling):     {timed['ceiling']:7.1f} ms")
    events_page = max(timed["events_filter"], timed["events_search"])
    print(
        f"ui_events_page_ms={events_page:.1f} ui_event_ms={timed['event']:.1f} "
        f"ui_fleet_1000_ms={timed['fleet_1000']:.1f} api_events_page_ms={timed['api_events']:.1f} "
        f"ui_model_ms={timed['model']:.1f} ui_window_ms={timed['window']:.1f} "
        f"api_models_50k_ms={timed['api_models_50k']:.1f} ui_fleet_50k_ms={timed['fleet_50k']:.1f} "
        f"ui_ceiling_ms={timed['ceiling']:.1f}"
    )


def screenshots(base: str, key: str, out: Path = Path("docs/img")) -> None:
    """Fleet, model and most-flagged-window pages of a running Driftline, as the README
    shows them."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 640})
        page.goto(base + "/login")
        page.fill("#key", key)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(out / "ui-fleet.png"))
        page.set_viewport_size({"width": 1280, "height": 1700})
        page.locator("table.fleet tbody th a").first.click()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(out / "ui-model.png"))
        rows = page.locator("table.windows tbody tr")
        flagged = rows.filter(has=page.locator(".badge.v-degraded, .badge.v-drift"))
        (flagged.first if flagged.count() else rows.first).locator("a").click()
        page.wait_for_load_state("networkidle")
        page.set_viewport_size({"width": 1280, "height": 1300})
        page.screenshot(path=str(out / "ui-window.png"))
        browser.close()
    print(f"wrote {out}/ui-fleet.png, ui-model.png, ui-window.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=EVENTS, help="events to store")
    parser.add_argument("--screenshots", nargs=2, metavar=("URL", "KEY"))
    args = parser.parse_args()
    if args.screenshots:
        screenshots(*args.screenshots)
    else:
        main(args.events)
