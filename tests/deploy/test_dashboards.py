"""The committed dashboards are what the generator produces, and every panel is complete."""

import json
import re
from pathlib import Path

from dashboards.generate import render

ROOT = Path(__file__).resolve().parents[2]
EXPORTED = {
    "driftline_monitor_verdict", "driftline_retraining_recommended",
    "driftline_last_successful_run_timestamp_seconds", "driftline_monitor_window_seconds",
    "driftline_last_window_end_timestamp_seconds", "driftline_window_events",
    "driftline_check_status", "driftline_check_value", "driftline_check_threshold",
    "driftline_runs", "driftline_reports_due", "driftline_featurise_lag_seconds",
    "driftline_ingest_events_total", "driftline_ingest_feedback_total",
    "driftline_http_request_duration_seconds_count",
    "driftline_http_request_duration_seconds_bucket", "driftline_model_reported_metric",
}  # fmt: skip


def panels() -> list[tuple[str, dict[str, object]]]:
    out = []
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            out.append((path.name, panel))
    return out


def test_regenerating_gives_the_committed_files() -> None:
    for name, body in render().items():
        committed = (ROOT / "dashboards" / name).read_text()
        assert committed == body, f"dashboards/{name} is stale: run `python -m dashboards.generate`"


def test_every_panel_has_title_description_unit_and_known_metrics() -> None:
    assert len(panels()) >= 15
    for name, panel in panels():
        assert panel["title"] and panel["description"], (name, panel)
        assert panel["fieldConfig"]["defaults"]["unit"], (name, panel["title"])  # type: ignore[index]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]  # type: ignore[union-attr]
        assert len(set(refs)) == len(refs) and all(refs)
        for target in panel["targets"]:  # type: ignore[union-attr]
            names = set(re.findall(r"\b(driftline_[a-z_]+)", target["expr"]))
            assert names and names <= EXPORTED, (name, panel["title"], names - EXPORTED)


def test_dashboards_import_into_any_grafana_and_link_into_driftline() -> None:
    """Imported where the Prometheus has another name, nothing says "datasource not found":
    no uid is written, every target and variable reads ``$datasource``; every query is
    narrowed by ``$job`` and ``$namespace``; the fleet table's rows and every model panel
    link to the model's page at ``$driftline_url`` (read from Driftline's own series)."""
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        uids = re.findall(r'"uid": "([^"]*)"', path.read_text())
        assert set(uids) <= {"${datasource}", board["uid"]}, (path.name, uids)
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for name in ("job", "namespace"):
            assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
        assert "driftline_public_url_info" in variables["driftline_url"]["query"]
        for panel in board["panels"]:
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
                for selector in re.findall(r"driftline_[a-z_]+(\{[^}]*\})?", target["expr"]):
                    assert 'job=~"$job"' in selector and 'namespace=~"$namespace"' in selector
            if "$model" in json.dumps(panel["targets"]):
                urls = [link["url"] for link in panel.get("links", [])]
                assert "${driftline_url}/models/${model}" in urls, (path.name, panel["title"])
    fleet = json.loads((ROOT / "dashboards/fleet.json").read_text())
    table = next(p for p in fleet["panels"] if p["type"] == "table")
    (link,) = table["fieldConfig"]["defaults"]["links"]
    assert link["url"] == "${driftline_url}/models/${__data.fields.model}"
    assert table["targets"][0]["format"] == "table"  # one column per label, model among them


def test_provisioning_makes_prometheus_the_default_datasource() -> None:
    text = (ROOT / "dashboards/provisioning/datasources.yml").read_text()
    assert "isDefault: true" in text and "type: prometheus" in text
