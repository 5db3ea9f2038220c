"""Soak, short variant (the 10-minute run is ``python -m bench.soak``): a steady loopback load
on a real api with a real worker computing windows. Nothing acked is lost, nothing errors,
every closed window is computed, and neither process's memory keeps growing."""

import pytest

from bench.soak import run_soak
from tests.pg import migrated_database

pytestmark = pytest.mark.slow

SECONDS, WARMUP, WINDOW = 60, 30, 10
# After warm-up (the worker has loaded Evidently and computed its first windows) memory may
# still move by allocator noise, not by a leak: 10 minutes grew 0.0 MiB on both (benchmarks.md).
API_GROWTH_MB, WORKER_GROWTH_MB = 25, 60


def test_a_minute_of_steady_load_with_the_worker_running(pg_server_url: str) -> None:
    with migrated_database(pg_server_url, "driftline_soak") as url:
        result = run_soak(url, seconds=SECONDS, rate=200, window_seconds=WINDOW)
    print(result.summary(warmup=WARMUP))
    assert result.errors == []
    assert result.requests_acked == result.requests_sent
    assert result.events_stored == result.events_acked > 0 and result.lost == 0
    assert result.windows_failed == 0
    assert result.windows_computed >= SECONDS // WINDOW - 1
    assert result.growth_mb("api", WARMUP) <= API_GROWTH_MB
    assert result.growth_mb("worker", WARMUP) <= WORKER_GROWTH_MB
