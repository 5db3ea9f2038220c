"""Schemathesis over the whole OpenAPI document against a real running Driftline on real
PostgreSQL: no 5xx, every response matches its documented schema and status code."""

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import auth
from tests.deploy.test_e2e_prometheus import driftline  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


def test_schemathesis_finds_nothing(
    driftline: str,  # noqa: F811
    make_key: Callable[..., str],
) -> None:
    import subprocess

    cli = Path(sys.executable).parent / "schemathesis"
    out = subprocess.run(
        [str(cli), "run", f"{driftline}/openapi.json",
         "--header", f"Authorization: {auth(make_key('admin'))['Authorization']}",
         "--max-examples", "25", "--seed", "1", "--workers", "2",
         "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    summary = out.stdout[out.stdout.find("SUMMARY") :]
    assert out.returncode == 0, out.stdout[-6000:]
    assert " passed" in summary and "failures" not in summary.lower(), summary
    cases = [line for line in summary.splitlines() if "generated" in line]
    print(cases)  # e.g. "1234 generated, 1234 passed" for the closing note
