"""UI benchmark: server time of the fleet page with 200 models and of the model page of a
monitor with 2,000 computed windows, on a real ``driftline api`` process and real PostgreSQL.

Runs are written straight into the tables (computing 6,800 windows would take hours and
measures the engine, not the pages): each with a verdict, check statuses, 40 window-level
numbers and 60 per-column ones, as the worker stores them. The ceiling in the same run is a
bare ``/healthz`` round trip on the same server.

    python -m bench.ui
    python -m bench.ui --screenshots URL KEY   # docs/img/ui-*.png from a running Driftline
                                               # (after `driftline demo`), in Chromium
Last line: ``ui_fleet_ms=… ui_model_ms=… ui_ceiling_ms=…`` (medians of 30 requests).
"""

import re
import shutil
import statistics
import sys
import time
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import create_engine, text

from app.auth.keys import create_key
from app.db.session import make_sessionmaker, session_scope
from tests.pg import scratch_database
from tests.processes import driftline_api, driftline_env

MODELS = 200
STRIP_RUNS = 24  # each fleet model's monitor
HISTORY_RUNS = 2_000  # the big monitor
REQUESTS = 30

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


def main() -> None:
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
        # What autovacuum does to an insert-mostly table soon after: statistics, and the
        # visibility map that lets the charts' covering index answer without the heap.
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        with session_scope(make_sessionmaker(engine)) as session:
            _, key = create_key(session, name="bench", scopes=["read"])
        print(f"seeded {MODELS} models, {runs} runs, {values} metric values", flush=True)
        with (
            driftline_api(driftline_env(url)) as (base, _),
            httpx.Client(base_url=base, timeout=60) as client,
        ):
            form = client.get("/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', form)
            assert token
            signed = client.post("/login", data={"key": key, "csrf": token.group(1)})
            assert signed.status_code == 303, signed.text[:300]
            ceiling = median_ms(client, "/healthz")
            fleet = median_ms(client, "/")
            model = median_ms(client, "/models/model-1?windows=2000")
        engine.dispose()
    print(f"fleet page, {MODELS} models:              {fleet:7.1f} ms")
    print(f"model page, {HISTORY_RUNS} windows charted:    {model:7.1f} ms")
    print(f"bare /healthz round trip (ceiling):   {ceiling:7.1f} ms")
    print(f"ui_fleet_ms={fleet:.1f} ui_model_ms={model:.1f} ui_ceiling_ms={ceiling:.1f}")


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
    if len(sys.argv) == 4 and sys.argv[1] == "--screenshots":
        screenshots(sys.argv[2], sys.argv[3])
    else:
        main()
