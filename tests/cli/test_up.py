"""`driftline up` on the embedded database: start, accept an event, stop, restart, still there."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx2 as httpx
import pytest

from tests.processes import free_port, wait_for

pytestmark = pytest.mark.slow


def start_up(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env["DRIFTLINE_DATA_DIR"] = str(data_dir)
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Output:
    """Collects a process's output lines as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def join(self) -> str:
        self._thread.join(timeout=30)
        return self.text()


def printed_curl(banner: str) -> str:
    """The copy-pasteable curl from the start-up banner, as one shell command."""
    lines = banner.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("curl "))
    cmd = []
    for line in lines[start:]:
        cmd.append(line.strip().rstrip("\\"))
        if not line.rstrip().endswith("\\"):
            break
    return " ".join(cmd)


def stop(proc: subprocess.Popen[str], output: Output, how: signal.Signals = signal.SIGINT) -> str:
    proc.send_signal(how)
    proc.wait(timeout=60)
    out = output.join()
    assert proc.returncode == 0, out
    return out


def test_up_serves_and_keeps_data_across_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    event = {"model": "demo", "request_id": "first", "prompt": "Hello?", "output": "Hi!"}

    proc = start_up(data_dir, port)
    output = Output(proc)
    try:
        wait_for(f"{base}/readyz", proc)
        key = (data_dir / "dev-api-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        assert f"dev API key: {key}" in output.text()
        # The banner's curl, run as a user would paste it.
        curl = subprocess.run(
            ["bash", "-c", printed_curl(output.text())], capture_output=True, text=True
        )
        assert curl.returncode == 0, curl.stderr
        assert json.loads(curl.stdout)["accepted"] == 1
        r = httpx.post(f"{base}/v1/events", json=event, headers=headers)
        assert r.status_code == 202 and r.json()["accepted"] == 1
    finally:
        out = stop(proc, output)
    assert "Driftline stopped." in out

    proc = start_up(data_dir, port)
    output = Output(proc)
    try:
        wait_for(f"{base}/readyz", proc)
        assert (data_dir / "dev-api-key").read_text().strip() == key  # same key after restart
        r = httpx.post(f"{base}/v1/events", json=event, headers=headers)
        assert r.json() == {
            "accepted": 0,
            "duplicates": 1,
            "sanitized": 0,
            "redacted": 0,
            "request_ids": ["first"],
        }
        models = httpx.get(f"{base}/v1/models", headers=headers).json()["models"]
        assert [m["name"] for m in models] == ["demo"]
    finally:
        # SIGTERM, as docker stop and systemd send it: a clean stop, embedded server included
        # (uvicorn used to re-raise it and end the process before PostgreSQL was stopped).
        out = stop(proc, output, signal.SIGTERM)
    assert "Driftline stopped." in out and "Traceback" not in out, out
    leftover = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True)
    assert leftover.stdout == "", f"processes still running on {data_dir}: {leftover.stdout}"


def test_up_never_prints_the_database_password(pg_server_url: str, tmp_path: Path) -> None:
    from sqlalchemy.engine import make_url

    from tests.pg import migrated_database

    with migrated_database(pg_server_url, "driftline_banner") as url:
        # The test server trusts local connections, so any password gets in: a sentinel one.
        with_password = make_url(url).set(password="s3cretpw-sentinel")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
        env["DRIFTLINE_DATA_DIR"] = str(tmp_path)
        env["DRIFTLINE_DATABASE_URL"] = with_password.render_as_string(hide_password=False)
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up", "--port", str(port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        output = Output(proc)
        wait_for(f"http://127.0.0.1:{port}/readyz", proc)
        out = stop(proc, output)
    assert "database:" in out and "***" in out, out
    assert "s3cretpw-sentinel" not in out


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_the_worker_stops_cleanly_on_a_signal(database_url: str, how: signal.Signals) -> None:
    from tests.processes import driftline_env

    port = free_port()
    env = driftline_env(database_url, worker_poll_seconds="1", worker_metrics_port=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = Output(proc)
    try:
        deadline = time.monotonic() + 60
        while "job(s)" not in output.text():
            assert proc.poll() is None and time.monotonic() < deadline, output.text()
            time.sleep(0.1)
        # Its own telemetry: healthy, and ticks timed once the first has run.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        while 'driftline_worker_tick_seconds_count{lane="worker"}' not in (
            metrics := httpx.get(f"http://127.0.0.1:{port}/metrics").text
        ):
            assert time.monotonic() < deadline, metrics[-2000:]
            time.sleep(0.2)
        beat = next(
            line for line in metrics.splitlines()
            if line.startswith("driftline_worker_heartbeat_timestamp_seconds ")
        )  # fmt: skip
        assert time.time() - float(beat.split()[1]) < 30
    except BaseException:
        proc.kill()  # a failed check must not leave a worker running
        raise
    out = stop(proc, output, how)
    assert "worker stopped." in out and "Traceback" not in out, out


@pytest.mark.parametrize("threads", [1, 2])
def test_the_worker_sizes_its_numeric_thread_pools_from_the_setting(
    database_url: str, threads: int
) -> None:
    """DRIFTLINE_WORKER_THREADS reaches BLAS's pool as the library loads (one worker's
    spare threads spinning on the others' cores made windows 10x slower): the worker
    reports what its loaded libraries will use. 1 and 2 both, so the default of any
    machine cannot pass for the setting."""
    from tests.processes import driftline_cli, driftline_env

    port = free_port()
    env = driftline_env(
        database_url, worker_poll_seconds="1", worker_metrics_port=str(port),
        worker_threads=str(threads),
    )  # fmt: skip
    with driftline_cli("worker", env=env):
        deadline = time.monotonic() + 60
        while 'driftline_worker_compute_threads{library="openblas"}' not in (
            metrics := _get_or_empty(f"http://127.0.0.1:{port}/metrics")
        ):
            assert time.monotonic() < deadline, metrics[-2000:]
            time.sleep(0.2)
    pools = [line for line in metrics.splitlines()
             if line.startswith("driftline_worker_compute_threads{")]  # fmt: skip
    assert pools and all(line.endswith(f" {float(threads)}") for line in pools), pools


def _get_or_empty(url: str) -> str:
    try:
        return httpx.get(url).text
    except httpx.HTTPError:  # not listening yet
        return ""


def test_two_workers_export_model_health_once_and_hand_it_over(database_url: str) -> None:
    # Scraped like Kubernetes pods: every worker, each model-health series from one of them.
    from tests.processes import driftline_cli, driftline_env

    ports = [free_port(), free_port()]
    envs = [
        driftline_env(database_url, worker_metrics_port=str(p), model_health_exporter="worker")
        for p in ports
    ]

    def scrape(port: int) -> str:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text

    def leaders() -> list[bool]:
        return ["driftline_model_health_leader 1.0" in scrape(p) for p in ports]

    with driftline_cli("worker", env=envs[0]) as one, driftline_cli("worker", env=envs[1]) as two:
        deadline = time.monotonic() + 60
        while True:
            try:
                led = leaders()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        assert sorted(led) == [False, True], led
        for port, leads in zip(ports, led, strict=True):
            assert ("driftline_collector_up 1.0" in scrape(port)) == leads
        leader = led.index(True)
        (one, two)[leader].kill()  # the leader dies; its connection, and the lock, go with it
        (one, two)[leader].wait(10)
        survivor = ports[1 - leader]
        while "driftline_model_health_leader 1.0" not in scrape(survivor):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert "driftline_collector_up 1.0" in scrape(survivor)


def test_a_taken_port_is_one_line_naming_it_and_the_setting_before_anything_starts(
    tmp_path: Path,
) -> None:
    """`make run` with the port taken: no banner, no key, no database — one line on stderr
    naming the port and DRIFTLINE_PORT, and a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env["DRIFTLINE_DATA_DIR"] = str(tmp_path / "data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["DRIFTLINE_PORT"] = str(port)  # the setting `make run` reads
        out = subprocess.run(
            [sys.executable, "-m", "app.cli", "up"], env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    assert out.returncode != 0
    assert out.stdout == ""
    (line,) = out.stderr.strip().splitlines()
    assert f"127.0.0.1:{port}" in line and "DRIFTLINE_PORT" in line, line
    assert not (tmp_path / "data").exists()  # no database started, no key created
