"""Real processes for tests and benchmarks: Driftline's own commands as child processes, a
free loopback port, and waiting until a server is ready."""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: "subprocess.Popen[Any]", timeout: float = 90) -> None:
    """Poll ``url`` until it answers 200; fail at once if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready")


def driftline_env(database_url: str, **settings: str) -> dict[str, str]:
    """This process's environment for a Driftline child: its database, quiet logs, and any
    ``DRIFTLINE_<NAME>`` given as ``name=value``."""
    env = {**os.environ, "DRIFTLINE_DATABASE_URL": database_url, "DRIFTLINE_LOG_LEVEL": "warning",
           # Several workers run at once in some tests: no shared metrics port unless asked.
           "DRIFTLINE_WORKER_METRICS_PORT": "0"}  # fmt: skip
    env.update({f"DRIFTLINE_{name.upper()}": value for name, value in settings.items()})
    return env


WITHOUT_EXTRAS = Path(__file__).parent / "without_extras"


def as_slim_api(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a child that runs as the slim api image does: the engine's and the embedded
    server's libraries cannot be imported (see tests/without_extras/sitecustomize.py)."""
    path = os.pathsep.join(p for p in (str(WITHOUT_EXTRAS), env.get("PYTHONPATH")) if p)
    return {**env, "PYTHONPATH": path}


@contextmanager
def driftline_cli(
    *args: str, env: dict[str, str], **popen: Any
) -> Iterator["subprocess.Popen[Any]"]:
    """``driftline <args>`` running for the block; terminated (and reaped) afterwards."""
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", *args], env=env, **popen)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)


@contextmanager
def driftline_api(
    env: dict[str, str], *args: str, **popen: Any
) -> Iterator[tuple[str, "subprocess.Popen[Any]"]]:
    """``driftline api`` on a free port, ready to serve: yields its base URL and process."""
    port = free_port()
    with driftline_cli("api", "--port", str(port), *args, env=env, **popen) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/readyz", proc)
        yield base, proc


def need(binary: str, install: str = "") -> str:
    """The path of an outside program a test needs. Missing: the test skips saying how to
    install it — except under CI, where every such test must run (.ci/run installs them)."""
    path = shutil.which(binary)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{binary} must be installed under CI (.ci/run installs it)")
        pytest.skip(f"{binary} not installed ({install or f'apt-get install {binary}'})")
    return path
