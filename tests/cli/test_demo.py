"""`driftline demo --fast` against a real api and a real `driftline worker` process reaches
a retraining recommendation with a report."""

import os
import subprocess
import sys
from collections.abc import Callable

import httpx2 as httpx
import pytest

from app.demo import run_demo

pytestmark = pytest.mark.slow


def test_fast_demo_reaches_retraining_recommended(
    driftline: str,
    database_url: str,
    make_key: Callable[..., str],
) -> None:
    env = {**os.environ, "DRIFTLINE_DATABASE_URL": database_url,
           "DRIFTLINE_WORKER_POLL_SECONDS": "2", "DRIFTLINE_LOG_LEVEL": "warning"}  # fmt: skip
    worker = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env)
    lines: list[str] = []
    key = make_key("admin")
    try:
        result = run_demo(driftline, key, minutes=5, fast=True, say=lines.append)
    finally:
        worker.terminate()
        worker.wait(30)
    assert result["status"]["retraining_recommended"], "\n".join(lines)
    # Windows with traffic; the minute after the demo may close empty (insufficient_data).
    runs = sorted(result["runs"], key=lambda r: r["window_start"])
    verdicts = [r["verdict"] for r in runs if r["status"] == "done"]
    assert verdicts[0] == "ok" and verdicts[-1] in ("drift", "degraded"), verdicts
    report = httpx.get(
        driftline + result["status"]["report_url"], headers={"Authorization": f"Bearer {key}"}
    )
    assert report.status_code == 200 and len(report.content) > 1_000_000
    assert any("retraining data:" in line for line in lines)
