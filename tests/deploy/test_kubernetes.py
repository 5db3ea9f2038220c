"""deploy/kubernetes/, checked statically (no cluster here): each overlay rendered by
``kubectl kustomize`` (Debian's kubectl), every core resource valid against Kubernetes' own
schemas (kubernetes-validate, strict), renders repeatable and free of secrets, a release that
changes only image tags, and the PrometheusRule the same alerts as the rules file Prometheus
is tested with."""

import importlib.util
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.processes import need

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("dev", "prod")
# The Prometheus Operator's kinds: no schema ships with kubernetes-validate.
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


def kubectl() -> str:
    return need("kubectl")


def render_text(folder: Path) -> str:
    out = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def render(folder: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render_text(folder)) if d]


def by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(K8S / "overlays" / request.param)


def test_the_base_lists_every_manifest() -> None:
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    on_disk = {p.name for p in (K8S / "base").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(base["resources"]) == on_disk


def test_every_core_resource_is_valid_for_kubernetes(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = overlay
    core = [d for d in docs if d["kind"] not in OPERATOR_KINDS]
    assert {"Deployment", "Service", "NetworkPolicy", "ConfigMap"} <= {d["kind"] for d in core}
    for doc in core:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_rendering_is_repeatable_and_holds_no_secret_and_no_immutable_job(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    """Applied twice, nothing changes; applied at all, no Secret is overwritten (none is in
    the manifests: the database URL is read from a Secret the operator creates) and no Job
    with a fixed name blocks the next release."""
    name, docs = overlay
    first = render_text(K8S / "overlays" / name)
    assert render_text(K8S / "overlays" / name) == first
    kinds = {d["kind"] for d in docs}
    assert "Secret" not in kinds and "Job" not in kinds
    assert "postgresql://" not in first and "stringData" not in first
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert all(d["metadata"].get("namespace") == "driftline" for d in namespaced)


def test_pods_migrate_first_run_as_non_root_and_read_the_database_url_from_a_secret(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = overlay
    kinds = by_kind(docs)
    for deployment in ("driftline-api", "driftline-worker"):
        pod = kinds[("Deployment", deployment)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (migrate,) = pod["initContainers"]
        assert migrate["args"] == ["migrate"]  # advisory-locked: pods starting together wait
        (container,) = pod["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        for c in (migrate, container):
            url = next(e for e in c["env"] if e["name"] == "DRIFTLINE_DATABASE_URL")
            assert url["valueFrom"]["secretKeyRef"]["name"] == "driftline-database"
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
            config = c["envFrom"][0]["configMapRef"]["name"]
            assert ("ConfigMap", config) in kinds  # the generated (hashed) name is wired in
    api = kinds[("Deployment", "driftline-api")]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    worker = kinds[("Deployment", "driftline-worker")]["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] >= 60  # finishes the window in hand
    assert worker["containers"][0]["ports"][0]["containerPort"] == 9464


def test_network_policies_let_in_only_the_ingress_and_prometheus_and_out_only_postgres(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = overlay
    kinds = by_kind(docs)
    api = kinds[("NetworkPolicy", "driftline-api")]["spec"]
    worker = kinds[("NetworkPolicy", "driftline-worker")]["spec"]
    for policy in (api, worker):
        assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
        out_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
        assert out_ports == {5432, 53}
        assert all("to" not in rule or rule["to"] for rule in policy["egress"])
    namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in api["ingress"] for peer in rule["from"]
    }  # fmt: skip
    assert namespaces == {"ingress-nginx", "monitoring"}
    assert [p["port"] for r in api["ingress"] for p in r["ports"]] == [8000]
    assert [p["port"] for r in worker["ingress"] for p in r["ports"]] == [9464]


def test_prod_autoscales_the_api_keeps_it_available_and_links_to_its_ingress() -> None:
    docs = render(K8S / "overlays" / "prod")
    kinds = by_kind(docs)
    hpa = kinds[("HorizontalPodAutoscaler", "driftline-api")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "driftline-api" and hpa["minReplicas"] >= 2
    # The autoscaler owns the count: an apply must not reset it.
    assert "replicas" not in kinds[("Deployment", "driftline-api")]["spec"]
    for name in ("driftline-api", "driftline-worker"):
        pdb = kinds[("PodDisruptionBudget", name)]["spec"]
        pods = kinds[("Deployment", name)]["spec"]["template"]["metadata"]["labels"]
        assert pdb["selector"]["matchLabels"].items() <= pods.items()
    # A one-replica worker's budget must let a node drain: never minAvailable 1.
    worker_budget = kinds[("PodDisruptionBudget", "driftline-worker")]["spec"]
    assert worker_budget["maxUnavailable"] == 1 and "minAvailable" not in worker_budget
    ingress = kinds[("Ingress", "driftline")]["spec"]
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = kinds[("Service", backend["name"])]["spec"]
    assert backend["port"]["name"] in {p["name"] for p in service["ports"]}
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert config["DRIFTLINE_PUBLIC_URL"] == f"https://{ingress['rules'][0]['host']}"
    assert ingress["tls"][0]["hosts"] == [ingress["rules"][0]["host"]]


def test_a_release_changes_only_the_image_tags(tmp_path: Path) -> None:
    """What makes the old migrate Job break a release: the next apply must only roll images."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(K8S, copy)
    prod = copy / "overlays" / "prod" / "kustomization.yaml"
    prod.write_text(prod.read_text().replace("newTag: 0.1.0", "newTag: 0.2.0"))
    before, after = render(K8S / "overlays" / "prod"), render(copy / "overlays" / "prod")
    assert len(before) == len(after)
    changed = []
    for old, new in zip(before, after, strict=True):
        if old != new:
            changed.append(f"{old['kind']}/{old['metadata']['name']}")
            assert yaml.safe_dump(old).replace("0.1.0", "0.2.0") == yaml.safe_dump(new)
    assert changed == ["Deployment/driftline-api", "Deployment/driftline-worker"]


def test_service_monitors_name_the_jobs_the_rules_select() -> None:
    docs = render(K8S / "overlays" / "prod")
    jobs = {
        e["relabelings"][0]["replacement"]
        for d in docs
        if d["kind"] == "ServiceMonitor"
        for e in d["spec"]["endpoints"]
    }
    shipped = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert jobs == {j["job_name"] for j in shipped["scrape_configs"]}


def test_the_prometheus_rule_is_the_rules_file() -> None:
    spec = importlib.util.spec_from_file_location(
        "generate_prometheusrule", K8S / "generate_prometheusrule.py"
    )
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    committed = yaml.safe_load((K8S / "base" / "prometheusrule.yaml").read_text())
    assert committed == generator.prometheus_rule(), (
        "regenerate: python deploy/kubernetes/generate_prometheusrule.py"
    )
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules/driftline.rules.yml").read_text())
    assert committed["spec"] == rules
