"""Write base/prometheusrule.yaml from the shipped rules file, so both always hold the same
alerts: ``python deploy/kubernetes/generate_prometheusrule.py`` (a test checks they match)."""

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE.parent / "prometheus" / "rules" / "driftline.rules.yml"


def prometheus_rule() -> dict[str, object]:
    """The PrometheusRule resource whose spec is the rules file."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "driftline"},
        "spec": yaml.safe_load(RULES.read_text()),
    }


if __name__ == "__main__":
    header = "# Generated from deploy/prometheus/rules/driftline.rules.yml by\n"
    header += "# deploy/kubernetes/generate_prometheusrule.py: edit the rules file, not this.\n"
    body = yaml.safe_dump(prometheus_rule(), sort_keys=False, width=100)
    (HERE / "base" / "prometheusrule.yaml").write_text(header + body)
