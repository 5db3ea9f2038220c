"""Alert rules pass promtool's checks and unit tests; Alertmanager's config passes amtool;
every runbook an alert links to is served."""

import re
import subprocess
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from tests.processes import need

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/rules"


def run(*cmd: str, cwd: Path = ROOT) -> str:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def alerts() -> list[dict[str, object]]:
    doc = yaml.safe_load((RULES / "driftline.rules.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_and_unit_test_the_rules() -> None:
    promtool = need("promtool")
    assert "SUCCESS: 17 rules found" in run(
        promtool, "check", "rules", str(RULES / "driftline.rules.yml")
    )
    assert "SUCCESS" in run(promtool, "test", "rules", "driftline.rules.test.yml", cwd=RULES)


def test_every_alert_has_severity_annotations_and_a_test_case() -> None:
    tests = (RULES / "driftline.rules.test.yml").read_text()
    names = {a["alert"] for a in alerts()}
    assert names == {
        "DriftlineDriftDetected", "DriftlineQualityDegraded", "DriftlineRetrainingRecommended",
        "DriftlineLongTailSurge", "DriftlineJudgeScoresDropped", "DriftlineJudgeBudgetExhausted",
        "DriftlineJudgeUnstable",
        "DriftlineMonitorStale", "DriftlineIngestionStopped",
        "DriftlineIngestErrorsHigh", "DriftlineApiDown", "DriftlineApiAbsent",
        "DriftlineDatabaseUnreachable", "DriftlineRunBacklogGrowing", "DriftlineMonitorFailing",
        "DriftlineWorkerDown", "DriftlineWorkerStuck",
    }  # fmt: skip
    for a in alerts():
        assert a["labels"]["severity"] in ("critical", "warning", "info")  # type: ignore[index]
        assert {"summary", "description", "runbook_url"} <= set(a["annotations"])  # type: ignore[arg-type]
        assert f"alertname: {a['alert']}\n" in tests
        assert tests.count(f"alertname: {a['alert']}\n") >= 2  # a "not yet" and a "fires"


def alert_labels(alert: dict[str, object]) -> set[str]:
    """The labels an alert carries: its expression's outer ``by (…)``, or ``up``'s."""
    expr = str(alert["expr"])
    grouped = re.search(r"by \(([^)]*)\)", expr)
    if grouped:
        return {label.strip() for label in grouped.group(1).split(",")}
    return {"job", "instance"} if expr.startswith("up{") else {"job"}


def test_every_inhibition_can_act() -> None:
    # An inhibition whose source and target never share its `equal` labels inhibits nothing
    # (the old degraded-over-drift rule matched on the monitor, which is never both).
    config = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    by_name = {str(a["alert"]): a for a in alerts()}
    for rule in config["inhibit_rules"]:
        sides = []
        for key in ("source_matchers", "target_matchers"):
            (matcher,) = rule[key]
            pattern = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
            assert pattern, matcher
            names = [n for n in by_name if re.fullmatch(pattern.group(1), n)]
            assert names, f"{matcher} matches no alert"
            sides.append(names)
        for source in sides[0]:
            for target in sides[1]:
                shared = alert_labels(by_name[source]) & alert_labels(by_name[target])
                assert set(rule["equal"]) <= shared, (source, target, rule["equal"])
                assert source != target
                # A monitor has one verdict at a time: two verdict alerts never share one.
                verdicts = ["driftline_monitor_verdict{" in str(by_name[n]["expr"])
                            for n in (source, target)]  # fmt: skip
                if all(verdicts):
                    assert "monitor" not in rule["equal"], (source, target)


def test_amtool_accepts_the_alertmanager_config() -> None:
    amtool = need("amtool")
    assert "SUCCESS" in run(amtool, "check-config", "deploy/alertmanager/alertmanager.yml")


def test_every_runbook_url_is_served(client: TestClient) -> None:
    for a in alerts():
        url = a["annotations"]["runbook_url"]  # type: ignore[index]
        name = re.search(r"/runbooks/([a-z-]+)$", str(url))
        assert name, url
        # An absent api shares the runbook of an api that is down.
        shared = {
            "DriftlineApiAbsent": "DriftlineApiDown",
            "DriftlineWorkerStuck": "DriftlineWorkerDown",
        }
        title = shared.get(str(a["alert"]), a["alert"])
        page = client.get(f"/runbooks/{name.group(1)}")  # what a person following it opens
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert f"<h1>{title}</h1>" in page.text
        r = client.get(f"/runbooks/{name.group(1)}.md")
        assert r.status_code == 200 and r.text.startswith(f"# {title}")
        assert "**What to do.**" in r.text
    assert client.get("/runbooks/..%2F..%2Fpyproject").status_code == 404
