"""The TypeScript client (sdk/typescript) against a real Driftline: its own tests, run by
node's test runner, after `npm ci` and the TypeScript build."""

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.processes import need

SDK = Path(__file__).resolve().parents[2] / "sdk" / "typescript"
pytestmark = pytest.mark.slow


def run(*cmd: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    out = subprocess.run(cmd, cwd=SDK, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_the_typescript_client_passes_its_tests_against_driftline(
    driftline: str, make_key: Callable[..., str]
) -> None:
    node, npm = need("node", "node 20 and npm"), need("npm", "node 20 and npm")
    # The lockfile pins every package; `npm ci` installs exactly it (from the npm registry).
    if not (SDK / "node_modules" / ".package-lock.json").exists():
        run(npm, "ci", "--no-audit", "--no-fund")
    run(npm, "run", "build")
    env = {**os.environ, "DRIFTLINE_URL": driftline, "DRIFTLINE_KEY": make_key("ingest")}
    report = run(node, "--test", "--test-timeout=60000", "--test-reporter=spec", "test/", env=env)
    assert "fail 0" in report and "pass 6" in report, report
