"""`driftline api --workers 2`: process metrics aggregate across workers and the DB-backed
collector still reports (prometheus-client's multiprocess mode ignores normal collectors)."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import auth
from tests.processes import free_port, wait_for

pytestmark = pytest.mark.slow


def accepted(body: str) -> float:
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == "driftline_ingest_events_total" and s.labels.get("outcome") == "accepted":
                return float(s.value)
    return 0.0


def test_counts_add_up_across_two_workers(
    database_url: str, make_key: Callable[..., str], tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DRIFTLINE_DATABASE_URL": database_url,
        "DRIFTLINE_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--port", str(port), "--workers", "2"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/readyz", proc)
        headers = auth(make_key("ingest"))
        for i in range(40):  # new connections: the kernel spreads them over both workers
            r = httpx.post(
                f"{base}/v1/events",
                json={"model": "m", "request_id": str(i), "prompt": "p", "output": "o"},
                headers=headers,
            )
            assert r.status_code == 202
        pids = {p.name.split("_")[-1] for p in (tmp_path / "prom").glob("*.db")}
        for _ in range(5):
            body = httpx.get(f"{base}/metrics").text
            assert accepted(body) == 40  # whichever worker answers, the sum is the total
            assert "driftline_runs{" in body  # the database collector is there too
        assert len(pids) >= 2, "both workers should have written metrics"
    finally:
        proc.terminate()
        proc.wait(30)
