"""deploy/kubernetes/, checked statically (no cluster here): every core resource valid
against Kubernetes' own schemas (kubernetes-validate, strict), the kustomization complete,
and the PrometheusRule the same alerts as the rules file Prometheus is tested with."""

import importlib.util
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
# The Prometheus Operator's kinds: no schema ships with kubernetes-validate.
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


def resources() -> list[tuple[str, dict[str, Any]]]:
    """Every resource of every manifest the kustomization lists."""
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    return [
        (name, doc)
        for name in listed
        for doc in yaml.safe_load_all((K8S / name).read_text())
        if doc
    ]


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize(
    ("name", "doc"),
    [r for r in resources() if r[1]["kind"] not in OPERATOR_KINDS],
    ids=lambda v: v if isinstance(v, str) else f"{v['kind']}/{v['metadata']['name']}",
)
def test_core_resources_are_valid_for_kubernetes(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_pods_run_as_non_root_with_probes_and_the_secret_from_a_secret() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]): d for _, d in resources()}
    for deployment in ("driftline-api", "driftline-worker"):
        pod = kinds[("Deployment", deployment)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        url = next(e for e in container["env"] if e["name"] == "DRIFTLINE_DATABASE_URL")
        assert url["valueFrom"]["secretKeyRef"]["name"] == "driftline-database"
    api = kinds[("Deployment", "driftline-api")]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    worker = kinds[("Deployment", "driftline-worker")]["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] >= 60  # finishes the window in hand
    assert worker["containers"][0]["ports"][0]["containerPort"] == 9464


def test_service_monitors_name_the_jobs_the_rules_select() -> None:
    jobs = {
        e["relabelings"][0]["replacement"]
        for _, d in resources()
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
    committed = yaml.safe_load((K8S / "prometheusrule.yaml").read_text())
    assert committed == generator.prometheus_rule(), (
        "regenerate: python deploy/kubernetes/generate_prometheusrule.py"
    )
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules/driftline.rules.yml").read_text())
    assert committed["spec"] == rules
