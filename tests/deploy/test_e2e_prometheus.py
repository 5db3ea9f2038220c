"""End to end: a real Prometheus scrapes a real Driftline, evaluates the shipped rules, and
answers every dashboard query."""

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import yaml
from sqlalchemy import Engine

from app.datasets import chatterbot, health_tweets
from app.db.migrate import upgrade
from tests.conftest import auth
from tests.jobs.test_monitoring_flow import HOUR, ORIGIN, work
from tests.pg import PrivatePostgres
from tests.processes import driftline_api, driftline_cli, driftline_env, free_port, need, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@contextmanager
def running_prometheus(config: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    """A real Prometheus on ``config`` (1-s scrapes and evaluations, the shipped rules, no
    Alertmanager); yields its base URL."""
    binary = need("prometheus")
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ROOT / "deploy/prometheus/rules/driftline.rules.yml")]
    config.pop("alerting", None)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/-/ready", proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def shipped_job(name: str, *targets: str) -> dict[str, Any]:
    """The shipped scrape job ``name``, pointed at ``targets``."""
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    job: dict[str, Any] = next(j for j in config["scrape_configs"] if j["job_name"] == name)
    job["static_configs"] = [{"targets": list(targets)}]
    return job


@pytest.fixture
def prometheus(driftline: str, tmp_path: Path) -> Iterator[str]:
    config = {"scrape_configs": [shipped_job("driftline", driftline.removeprefix("http://"))]}
    with running_prometheus(config, tmp_path) as base:
        yield base


def seed(base: str, headers: dict[str, str], engine: Engine, origin: datetime = ORIGIN) -> None:
    """A baseline, an hourly monitor, one calm hour and two hours with a new domain, from
    ``origin`` (computed up to ``origin`` + 3 h)."""
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        tweets = health_tweets(without_urls=True).sample(frac=1, random_state=1)
        records = [
            {"prompt": t, "output": "noted", "prediction": o, "label": o,
             "confidence": 0.5 + (i % 10) / 20, "token_logprobs": [-0.3, -0.6, -0.2]}
            for i, (t, o) in enumerate(zip(tweets.text[:600], tweets.outlet[:600], strict=True))
        ]  # fmt: skip
        r = c.post("/v1/baselines", json={"model": "news-bot", "name": "b", "records": records})
        assert r.status_code == 202, r.text
        work(engine, origin)
        r = c.post(
            "/v1/monitors",
            json={"name": "news-hourly", "model": "news-bot", "baseline_id": r.json()["id"],
                  "window": "1h", "delay": "0s", "start_at": origin.isoformat()},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        chat = list(chatterbot().prompt[:300])
        for hour in range(3):
            texts = list(tweets.text[600 + 300 * hour : 900 + 300 * hour])
            outlets = list(tweets.outlet[600 + 300 * hour : 900 + 300 * hour])
            if hour:
                texts[:150], outlets[:150] = chat[150 * (hour - 1) : 150 * hour], ["other"] * 150
            start = origin + hour * HOUR
            events = [
                {"model": "news-bot", "request_id": f"h{hour}-{i}", "prompt": t, "output": "noted",
                 "prediction": o, "token_logprobs": [-0.3, -0.6, -0.2],
                 "confidence": 0.5 + (i % 10) / 20,
                 "ts": (start + i * HOUR / 400).isoformat()}
                for i, (t, o) in enumerate(zip(texts, outlets, strict=True))
            ]  # fmt: skip
            assert c.post("/v1/events", json={"events": events}).status_code == 202
            fb = [{"model": "news-bot", "request_id": e["request_id"], "label": e["prediction"]}
                  for e in events]  # fmt: skip
            assert c.post("/v1/feedback", json={"feedback": fb}).status_code == 202
        c.post("/v1/events", json={"events": [{"model": "m"}]})  # one rejected batch
        r = c.put("/v1/models/news-bot/metrics",
                  json={"training": {"f1": 0.99}, "validation": {"f1": 0.93}})  # fmt: skip
        assert r.status_code == 200, r.text
    work(engine, origin + 3 * HOUR)


def dashboard_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                out.append((path.name, panel["title"], target["expr"]))
    return out


def substitute(expr: str) -> str:
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$model", "news-bot")
        .replace("$monitor", "news-hourly")
        .replace("$job", ".*")  # the variables' "All"
        .replace("$namespace", ".*")
    )


def test_alerts_fire_and_every_dashboard_query_returns_data(
    driftline: str, prometheus: str, make_key: Callable[..., str], engine: Engine
) -> None:
    seed(driftline, auth(make_key("admin")), engine)
    api = httpx.Client(base_url=prometheus, timeout=10)

    # The drift alert goes pending (its `for:` is 5 minutes) in Prometheus' own API.
    deadline = time.monotonic() + 90
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = alert_states(api)
        if {"DriftlineDriftDetected", "DriftlineRetrainingRecommended"} & set(states) or (
            "DriftlineQualityDegraded" in states
        ):
            break
        time.sleep(1)
    assert set(states) & {"DriftlineDriftDetected", "DriftlineQualityDegraded"}, states
    assert all(s in ("pending", "firing") for s in states.values())
    model_alerts = ("DriftlineDriftDetected", "DriftlineQualityDegraded")
    alert = next(
        a
        for a in api.get("/api/v1/alerts").json()["data"]["alerts"]
        if a["labels"]["alertname"] in model_alerts
    )
    assert alert["labels"]["model"] == "news-bot" and alert["labels"]["monitor"] == "news-hourly"
    runbook = alert["annotations"]["runbook_url"]
    # Built from the public URL the api exports (its own address by default), not from the
    # scraped target; the link on-call clicks works.
    assert runbook.startswith(f"{driftline}/runbooks/"), runbook
    assert f"{driftline}/models/news-bot" in alert["annotations"]["description"]
    assert httpx.get(runbook).status_code == 200

    time.sleep(3)  # two more scrapes so that rate() has samples of the traffic
    empty = []
    for name, title, expr in dashboard_queries():
        r = api.get("/api/v1/query", params={"query": substitute(expr)})
        body = r.json()
        assert r.status_code == 200 and body["status"] == "success", (name, title, expr, body)
        if not body["data"]["result"]:
            empty.append(f"{name}: {title}: {expr}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)

    for variable in ("model", "monitor"):
        values = api.get(
            f"/api/v1/label/{variable}/values", params={"match[]": "driftline_monitor_verdict"}
        ).json()["data"]
        assert values, variable
    assert re.search(r"news", " ".join(api.get("/api/v1/label/model/values").json()["data"]))


def alert_states(prometheus: httpx.Client) -> dict[str, str]:
    """Every alert Prometheus holds now, by name: pending or firing."""
    alerts = prometheus.get("/api/v1/alerts").json()["data"]["alerts"]
    return {a["labels"]["alertname"]: a["state"] for a in alerts}


def query(prometheus: httpx.Client, expr: str) -> float | None:
    """The first value of an instant query (None: no series)."""
    result = prometheus.get("/api/v1/query", params={"query": expr}).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_stopping_the_database_raises_the_database_alert_while_metrics_still_answer(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    url = private_pg.url()
    upgrade(url)
    env = driftline_env(url, db_connect_timeout_seconds="2")
    with driftline_api(env) as (base, _):
        config = {"scrape_configs": [shipped_job("driftline", base.removeprefix("http://"))]}
        with running_prometheus(config, tmp_path) as prom:
            api = httpx.Client(base_url=prom, timeout=10)
            deadline = time.monotonic() + 60
            while query(api, "driftline_collector_up") != 1.0:
                assert time.monotonic() < deadline
                time.sleep(0.5)
            private_pg.stop()
            try:
                while "DriftlineDatabaseUnreachable" not in (states := alert_states(api)):
                    assert time.monotonic() < deadline, states
                    time.sleep(0.5)
                assert states["DriftlineDatabaseUnreachable"] == "pending"  # fires after 2 min
                # The scrape itself still succeeds: the process's own series keep flowing.
                assert query(api, 'up{job="driftline"}') == 1.0
                assert "DriftlineApiDown" not in states
                assert httpx.get(f"{base}/metrics").status_code == 200
            finally:
                private_pg.start()


def test_killing_the_worker_raises_the_worker_down_alert(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = driftline_env(database_url, worker_metrics_port=str(port))
    config = {"scrape_configs": [shipped_job("driftline-worker", f"127.0.0.1:{port}")]}
    with (
        driftline_cli("worker", env=env) as worker,
        running_prometheus(config, tmp_path) as prometheus,
    ):
        api = httpx.Client(base_url=prometheus, timeout=10)
        deadline = time.monotonic() + 60
        while query(api, 'up{job="driftline-worker"}') != 1.0:
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.5)
        assert query(api, "driftline_worker_heartbeat_timestamp_seconds")
        worker.kill()  # a crash: no chance to say goodbye
        worker.wait(10)
        while "DriftlineWorkerDown" not in (states := alert_states(api)):
            assert time.monotonic() < deadline, states
            time.sleep(0.5)
        assert states["DriftlineWorkerDown"] == "pending"  # fires after its 2 minutes


def fleet_view(prometheus: httpx.Client) -> dict[str, Any]:
    """What the fleet dashboard shows (its queries over gauges; rates depend on traffic) and
    the model alerts Prometheus holds, with the labels that tell replicas apart left out."""
    view: dict[str, Any] = {}
    for name, title, expr in dashboard_queries():
        if name == "fleet.json" and "rate(" not in expr:
            result = prometheus.get("/api/v1/query", params={"query": substitute(expr)})
            result = result.json()["data"]
            view[f"{title}: {expr}"] = sorted(
                (json.dumps({k: v for k, v in r["metric"].items() if k not in ("instance", "job")},
                            sort_keys=True), r["value"][1])
                for r in result["result"]
            )  # fmt: skip
    alerts = prometheus.get("/api/v1/alerts").json()["data"]["alerts"]
    view["model alerts"] = sorted(
        a["labels"]["alertname"] for a in alerts if "model" in a["labels"]
    )
    return view


def settled_view(prometheus: httpx.Client, targets: int) -> dict[str, Any]:
    """The fleet view once every target is up, the model-health series are in and the rules
    have had time to evaluate them."""
    deadline = time.monotonic() + 90
    while (query(prometheus, "count(up == 1)") or 0) < targets or not query(
        prometheus, "count(driftline_monitor_verdict)"
    ):
        assert time.monotonic() < deadline, "the targets never came up with model health"
        time.sleep(0.5)
    time.sleep(4)  # a few more scrapes and rule evaluations (1 s each)
    return fleet_view(prometheus)


def test_three_api_replicas_and_two_workers_show_the_fleet_as_one_replica_does(
    database_url: str, engine: Engine, make_key: Callable[..., str], tmp_path: Path
) -> None:
    # Windows that closed in the last three hours: the workers find nothing left to compute
    # (windows from a fixed past date would be planned up to now and change the verdicts).
    origin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 3 * HOUR
    with driftline_api(driftline_env(database_url)) as (base, _):
        seed(base, auth(make_key("admin")), engine, origin)
        config = {"scrape_configs": [shipped_job("driftline", base.removeprefix("http://"))]}
        with running_prometheus(config, tmp_path / "one") as prom:
            one_replica = settled_view(httpx.Client(base_url=prom, timeout=10), targets=1)
    assert one_replica["model alerts"] and any(
        rows for key, rows in one_replica.items() if key.startswith("Latest verdict")
    ), one_replica

    # As deploy/kubernetes runs it: every pod scraped, model health exported by one worker.
    env = driftline_env(database_url, model_health_exporter="worker")
    with ExitStack() as stack:
        apis = [stack.enter_context(driftline_api(env))[0] for _ in range(3)]
        ports = [free_port(), free_port()]
        for port in ports:
            worker_env = {**env, "DRIFTLINE_WORKER_METRICS_PORT": str(port)}
            stack.enter_context(driftline_cli("worker", env=worker_env))
        config = {"scrape_configs": [
            shipped_job("driftline", *(a.removeprefix("http://") for a in apis)),
            shipped_job("driftline-worker", *(f"127.0.0.1:{p}" for p in ports)),
        ]}  # fmt: skip
        prom = stack.enter_context(running_prometheus(config, tmp_path / "five"))
        five_processes = settled_view(httpx.Client(base_url=prom, timeout=10), targets=5)
    assert five_processes == one_replica
