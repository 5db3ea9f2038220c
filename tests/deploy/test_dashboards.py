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
    "driftline_runs", "driftline_featurise_lag_seconds", "driftline_ingest_events_total",
    "driftline_ingest_feedback_total", "driftline_http_request_duration_seconds_count",
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
        assert panel["datasource"] == {"type": "prometheus", "uid": "driftline-prometheus"}
        refs = [t["refId"] for t in panel["targets"]]  # type: ignore[union-attr]
        assert len(set(refs)) == len(refs) and all(refs)
        for target in panel["targets"]:  # type: ignore[union-attr]
            names = set(re.findall(r"\b(driftline_[a-z_]+)", target["expr"]))
            assert names and names <= EXPORTED, (name, panel["title"], names - EXPORTED)


def test_provisioning_points_at_the_fixed_datasource_uid() -> None:
    text = (ROOT / "dashboards/provisioning/datasources.yml").read_text()
    assert "uid: driftline-prometheus" in text
