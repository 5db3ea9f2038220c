"""PUT /v1/models/{name}/metrics: training and validation scores for the overfitting gap."""

from collections.abc import Callable

from fastapi.testclient import TestClient

from app.metrics.model_health import REPORTED_VERSIONS_EXPORTED
from tests.conftest import auth


def test_reported_metrics_are_listed_merged_and_exported(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    headers = auth(make_key("admin"))
    body = {"version": "v3", "training": {"f1": 0.97, "accuracy": 0.98},
            "validation": {"f1": 0.91}}  # fmt: skip
    r = client.put("/v1/models/news-bot/metrics", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["training_metrics"] == {"f1": 0.97, "accuracy": 0.98}
    # A later report of one split keeps the other.
    r = client.put(
        "/v1/models/news-bot/metrics",
        json={"version": "v3", "validation": {"f1": 0.9, "accuracy": 0.92}},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    models = client.get("/v1/models", headers=headers).json()["models"]
    (v3,) = models[0]["versions"]
    assert v3["version"] == "v3"
    assert v3["training_metrics"] == {"f1": 0.97, "accuracy": 0.98}
    assert v3["validation_metrics"] == {"f1": 0.9, "accuracy": 0.92}

    exposed = client.get("/metrics").text
    assert (
        'driftline_model_reported_metric{metric="f1",model="news-bot",split="training",'
        'version="v3"} 0.97' in exposed
    )
    assert (
        'driftline_model_reported_metric{metric="accuracy",model="news-bot",split="validation",'
        'version="v3"} 0.92' in exposed
    )


def test_bad_metric_reports_are_refused_by_name(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    headers = {**auth(make_key("admin")), "Content-Type": "application/json"}
    cases = {
        "{}": "training and/or validation",
        '{"training": {"F1 score": 0.9}}': "training.F1 score",
        '{"training": {"f1": NaN}}': "training.f1",
        '{"training": {"f1": "high"}}': "training.f1",
        '{"validation": {"f1": 0.9}, "extra": 1}': "extra",
    }
    for raw, named in cases.items():
        r = client.put("/v1/models/m/metrics", content=raw, headers=headers)
        assert r.status_code == 422, (raw, r.text)
        assert named in r.json()["error"]["message"], (raw, r.json())


def test_hub_style_names_with_a_slash_work_in_paths(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    headers = auth(make_key("admin"))
    for path in ("meta-llama/Llama-3-8B-support", "meta-llama%2FLlama-3-8B-support"):
        r = client.put(f"/v1/models/{path}/metrics", json={"training": {"f1": 0.9}},
                       headers=headers)  # fmt: skip
        assert r.status_code == 200, (path, r.text)
    names = [m["name"] for m in client.get("/v1/models", headers=headers).json()["models"]]
    assert names == ["meta-llama/Llama-3-8B-support"]
    status = client.get("/v1/models/meta-llama/Llama-3-8B-support/status", headers=headers)
    assert status.status_code == 200 and status.json()["model"] == "meta-llama/Llama-3-8B-support"


def test_an_ingest_key_cannot_report_metrics(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    r = client.put(
        "/v1/models/m/metrics", json={"training": {"f1": 0.9}}, headers=auth(make_key("ingest"))
    )
    assert r.status_code == 403 and "'admin'" in r.json()["error"]["message"]


def test_five_hundred_versions_export_a_bounded_number_of_series(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    # A pipeline that reports every build: the rows are kept, the series are not multiplied.
    headers = auth(make_key("admin"))
    for i in range(500):
        r = client.put(
            "/v1/models/bot/metrics",
            json={"version": f"build-{i}", "training": {"f1": 0.9, "accuracy": 0.95},
                  "validation": {"f1": 0.85}},
            headers=headers,
        )  # fmt: skip
        assert r.status_code == 200, r.text
    versions = client.get("/v1/models", headers=headers).json()["models"][0]["versions"]
    assert len(versions) == 500
    exposed = [
        line for line in client.get("/metrics").text.splitlines()
        if line.startswith("driftline_model_reported_metric{")
    ]  # fmt: skip
    assert len(exposed) == REPORTED_VERSIONS_EXPORTED * 3  # newest versions x 3 metrics
    assert all('version="build-4' in line or 'version="build-49' in line for line in exposed)
    assert any('version="build-499"' in line for line in exposed)
