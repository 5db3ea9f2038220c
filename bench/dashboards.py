"""Long horizons on the dashboards: every Grafana query over a year of one-minute data.

The series are a real Driftline's: a real ``driftline api`` on a scratch database, seeded as
the end-to-end Prometheus test seeds it (a baseline, an hourly monitor, three computed hours
with labels, a rejected batch, reported metrics), scraped once. Every series whose metric a
dashboard reads then gets a year of samples one minute apart — gauges vary around their
scraped value, counters count up, histogram buckets stay cumulative — written as OpenMetrics
one two-hour block at a time and imported with ``promtool tsdb create-blocks-from
openmetrics`` (Debian's promtool has no ``--max-block-duration``, and it reads its whole input
once per block: one file per block keeps the import linear). A real Prometheus keeping 400
days then serves that TSDB; once its compactor has merged the year's blocks (as a long-
running Prometheus would have), each dashboard query runs as Grafana sends it for a panel
1,000 points wide — ``step`` = range ÷ 1,000, ``$__rate_interval`` = max(step + scrape
interval, 4 scrape intervals) — over a day, 30 days and a year, median of 3 after a warm-up.

    python -m bench.dashboards                # a year: about 15 minutes
    python -m bench.dashboards --days 30
Last line: ``dashboards_series=… dashboards_year_max_ms=… dashboards_year_median_ms=…
dashboards_month_max_ms=… dashboards_day_max_ms=… dashboards_slowest=…``
"""

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from tests.deploy.test_e2e_prometheus import dashboard_queries, seed
from tests.jobs.test_monitoring_flow import ORIGIN
from tests.pg import key_at, scratch_database
from tests.processes import driftline_api, driftline_env, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
STEP_SECONDS = 60  # one sample a minute: a one-minute window's value, scraped once
BLOCK_SECONDS = 2 * 3600  # promtool's block
POINTS = 1_000  # a panel's width in points (Grafana's maxDataPoints)
JOB, INSTANCE = "driftline", "api:8000"


@dataclass(frozen=True)
class Series:
    """One series to backfill: its name and labels as OpenMetrics text, its family and kind,
    and what a minute adds (counters) or its typical value (gauges)."""

    family: str
    kind: str
    text: str
    value: float
    per_minute: float


def _labels(labels: dict[str, str]) -> str:
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(labels.items())
    )
    return "{" + ",".join(escaped) + "}"


def dashboard_metrics() -> set[str]:
    """Every metric name a dashboard query reads."""
    names: set[str] = set()
    for _, _, expr in dashboard_queries():
        names |= set(re.findall(r"\bdriftline_[a-z_]+", expr))
    return names


def scraped_series(body: str, wanted: set[str]) -> list[Series]:
    """The series of a ``/metrics`` body that the dashboards read, with a per-minute rate
    for counters and histograms (a histogram's buckets share its count's rate in the
    proportions scraped, so they stay cumulative)."""
    out: list[Series] = []
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name.endswith("_created") or (
                sample.name not in wanted and family.name not in wanted
            ):
                continue
            labels = {**sample.labels, "job": JOB, "instance": INSTANCE}
            counting = family.type in ("counter", "histogram")
            value = float(sample.value) if np.isfinite(sample.value) else 0.0
            out.append(
                Series(
                    family=family.name, kind=family.type, text=sample.name + _labels(labels),
                    value=value, per_minute=max(value, 1.0) / 180 if counting else 0.0,
                )
            )  # fmt: skip
    return out


def write_block(
    path: Path, series: list[Series], start: int, origin: int, rng: np.random.Generator
) -> int:
    """One block's OpenMetrics from ``start`` (series by series, each family's samples
    together; counters counted from ``origin``); returns how many samples."""
    times = np.arange(start, start + BLOCK_SECONDS, STEP_SECONDS)
    minutes = (times - origin) / STEP_SECONDS
    lines = []
    family = None
    for s in series:
        if s.family != family:
            family = s.family
            lines.append(f"# TYPE {family} {s.kind if s.kind != 'untyped' else 'unknown'}")
        if s.per_minute:
            values = s.value + s.per_minute * minutes
        elif float(s.value).is_integer():  # a flag or a count (a verdict, runs by status)
            values = np.full(len(times), s.value)
        else:  # a measurement: its value, varying a little from minute to minute
            values = s.value * (1 + 0.05 * rng.standard_normal(len(times)))
        lines += [f"{s.text} {v:.6g} {t}" for v, t in zip(values, times, strict=True)]
    lines.append("# EOF\n")
    path.write_text("\n".join(lines))
    return len(series) * len(times)


@contextmanager
def prometheus_on(data: Path) -> Iterator[str]:
    """Prometheus serving ``data`` (400 days kept; no scraping, no rules)."""
    config = data.parent / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 60s\n")
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("prometheus") or "prometheus", f"--config.file={config}",
         f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=400d",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/-/ready", proc, timeout=600)
        yield base
    finally:
        proc.terminate()
        proc.wait(60)


def _self_metric(client: httpx.Client, name: str) -> float:
    body = client.get("/metrics").text
    found = re.search(rf"^{name} (\S+)$", body, re.M)
    return float(found.group(1)) if found else 0.0


def wait_for_compaction(client: httpx.Client) -> int:
    """Wait until the compactor has merged the imported blocks; returns the blocks left."""
    last, steady = -1.0, 0
    while steady < 3:
        time.sleep(20)
        blocks = _self_metric(client, "prometheus_tsdb_blocks_loaded")
        steady = steady + 1 if blocks == last else 0
        last = blocks
        print(f"  compacting: {blocks:.0f} blocks loaded", flush=True)
    return int(last)


def grafana_query(expr: str, model: str, monitor: str, step: int) -> str:
    """The query Grafana sends: dashboard variables at their values or "All"."""
    rate_interval = max(step + STEP_SECONDS, 4 * STEP_SECONDS)
    return (
        expr.replace("$__rate_interval", f"{rate_interval}s")
        .replace("$model", model)
        .replace("$monitor", monitor)
        .replace("$job", ".*")
        .replace("$namespace", ".*")
    )


def time_query(client: httpx.Client, expr: str, start: int, end: int, step: int) -> float:
    """Median ms of 3 range queries after a warm-up; raises if Prometheus refuses it or it
    charts nothing (a query that finds no series costs nothing and would flatter the
    figure)."""
    params: dict[str, str | int] = {"query": expr, "start": start, "end": end, "step": step}
    warm = client.get("/api/v1/query_range", params=params)
    warm.raise_for_status()
    assert warm.json()["data"]["result"], f"no data: {expr}"
    times = []
    for _ in range(3):
        t = time.perf_counter()
        r = client.get("/api/v1/query_range", params=params)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return statistics.median(times)


def main(days: int) -> None:
    for binary in ("prometheus", "promtool"):
        if shutil.which(binary) is None:
            raise SystemExit(f"bench/dashboards.py needs {binary}: apt-get install prometheus")
    with scratch_database("driftline_bench_dashboards") as url:
        key = key_at(url, "admin", name="bench")
        engine = create_engine(url)
        with driftline_api(driftline_env(url)) as (base, _):
            seed(base, {"Authorization": f"Bearer {key}"}, engine, ORIGIN)
            body = httpx.get(f"{base}/metrics", timeout=60).text
        engine.dispose()
    series = sorted(scraped_series(body, dashboard_metrics()), key=lambda s: s.family)
    families = len({s.family for s in series})
    print(f"{len(series)} series of {families} metrics the dashboards read", flush=True)

    end = int(datetime.now(UTC).timestamp()) // BLOCK_SECONDS * BLOCK_SECONDS
    start = end - days * 86_400
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="driftline-dashboards-") as tmp:
        data, block = Path(tmp) / "data", Path(tmp) / "block.om"
        data.mkdir()
        t0, samples = time.perf_counter(), 0
        print(f"importing {days} days in {(end - start) // BLOCK_SECONDS} blocks", flush=True)
        for i, at in enumerate(range(start, end, BLOCK_SECONDS)):
            samples += write_block(block, series, at, start, rng)
            subprocess.run(
                ["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(block),
                 str(data)],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            if i % 500 == 0:
                print(f"  imported {i * BLOCK_SECONDS / 86_400:.0f} of {days} days", flush=True)
        print(f"{samples:,} samples imported in {time.perf_counter() - t0:.0f} s", flush=True)
        with prometheus_on(data) as prom, httpx.Client(base_url=prom, timeout=300) as client:
            blocks = wait_for_compaction(client)
            results: dict[str, dict[str, float]] = {}
            for label, span in (("day", 1), ("month", 30), ("year", days)):
                step = max(STEP_SECONDS, span * 86_400 // POINTS)
                results[label] = {}
                for dashboard, title, expr in dashboard_queries():
                    query = grafana_query(expr, "news-bot", "news-hourly", step)
                    ms = time_query(client, query, end - span * 86_400, end, step)
                    results[label][f"{dashboard}: {title}"] = ms
                times = results[label].values()
                print(f"{label} ({span} days, step {step} s): median {statistics.median(times):.0f}"
                      f" ms, slowest {max(times):.0f} ms", flush=True)  # fmt: skip
    year = results["year"]
    slowest = max(year, key=lambda k: year[k])
    for name, ms in sorted(year.items(), key=lambda kv: -kv[1])[:8]:
        print(f"   {ms:8.0f} ms  {name}")
    print(f"blocks after compaction: {blocks}")
    print(
        f"dashboards_series={len(series)} dashboards_year_max_ms={max(year.values()):.0f} "
        f"dashboards_year_median_ms={statistics.median(year.values()):.0f} "
        f"dashboards_month_max_ms={max(results['month'].values()):.0f} "
        f"dashboards_day_max_ms={max(results['day'].values()):.0f} "
        f"dashboards_slowest={json.dumps(slowest)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of one-minute samples")
    args = parser.parse_args()
    main(args.days)
