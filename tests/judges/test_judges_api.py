"""``/v1/judges``: configuration a project owns, whose key is never stored or shown."""

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.api.test_projects import project_keys
from tests.conftest import auth

__all__ = ["project_keys"]  # the fixture, shared

JUDGE = {"name": "correct", "base_url": "http://judge.internal:8000/v1", "model": "qwen-judge",
         "api_key_env": "JUDGE_API_KEY"}  # fmt: skip


def test_a_judge_is_configured_changed_versioned_and_deleted(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    admin = auth(make_key("admin"))
    r = client.post("/v1/judges", json=JUDGE, headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["rubric"] == "correctness" and body["answer"] == "pass_fail"
    assert body["budget"] == 100 and body["version"] == 1 and body["project"] == "default"
    assert client.post("/v1/judges", json=JUDGE, headers=admin).status_code == 409
    # Budget changes keep the version; what the judge answers does not.
    r = client.patch("/v1/judges/correct", json={"budget": 50}, headers=admin)
    assert r.json()["budget"] == 50 and r.json()["version"] == 1
    r = client.patch("/v1/judges/correct", json={"rubric": "safety"}, headers=admin)
    assert r.json()["answer"] == "pass_fail" and r.json()["version"] == 2
    r = client.patch("/v1/judges/correct", json={"rubric": "helpfulness"}, headers=admin)
    assert r.json()["answer"] == "score" and r.json()["version"] == 3
    assert [j["name"] for j in client.get("/v1/judges", headers=admin).json()["judges"]] == [
        "correct"
    ]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT row_to_json(j)::text FROM judges j")).scalar_one()
    assert "JUDGE_API_KEY" in stored  # where the key is read, never a key
    assert client.delete("/v1/judges/correct", headers=admin).status_code == 204
    assert client.get("/v1/judges/correct", headers=admin).status_code == 404


def test_bad_judges_are_refused_with_the_reason(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    admin = auth(make_key("admin"))
    cases = {
        "not an http(s) URL": {**JUDGE, "base_url": "file:///etc/passwd"},
        "not the URL": {**JUDGE, "base_url": "https://user:sk-secret@api.example/v1"},
        "not both": {**JUDGE, "api_key_file": "/run/secrets/judge"},
        "needs a prompt_template": {**JUDGE, "rubric": "custom"},
        "must include {output}": {**JUDGE, "rubric": "custom", "answer": "score",
                                  "prompt_template": "Rate {prompt}"},
        "unknown field(s) ['secret']": {**JUDGE, "rubric": "custom", "answer": "score",
                                        "prompt_template": "{output} {secret}"},
        "is built in": {**JUDGE, "prompt_template": "{output}"},
        "api_key": {**JUDGE, "api_key": "sk-live-123"},
        "budget": {**JUDGE, "budget": 0},
    }  # fmt: skip
    for why, body in cases.items():
        r = client.post("/v1/judges", json=body, headers=admin)
        assert r.status_code == 422 and why in r.text, (why, r.text)


def test_another_projects_judge_is_a_missing_one(
    client: TestClient, make_key: Callable[..., str], project_keys: dict[str, dict[str, str]]
) -> None:
    operator = auth(make_key("admin"))
    a, b = project_keys["alpha"], project_keys["beta"]
    assert client.post("/v1/judges", json=JUDGE, headers=a).status_code == 201
    # The same name in another project is not a conflict, and neither sees the other's.
    assert client.post("/v1/judges", json=JUDGE, headers=b).status_code == 201
    assert client.patch("/v1/judges/correct", json={"budget": 7}, headers=b).json()["budget"] == 7
    assert client.get("/v1/judges/correct", headers=a).json()["budget"] == 100
    r = client.post("/v1/judges", json={**JUDGE, "name": "only-a"}, headers=a)
    assert r.status_code == 201
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"budget": 1}} if method == "patch" else {}
        r = getattr(client, method)("/v1/judges/only-a", headers=b, **kwargs)
        assert r.status_code == 404 and r.json()["error"]["message"] == "no judge 'only-a'"
    assert len(client.get("/v1/judges", headers=operator).json()["judges"]) == 3


def test_a_monitor_runs_only_judges_of_its_models_project(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    admin = auth(make_key("admin"))
    records = [{"prompt": f"q{i}", "output": f"a{i}"} for i in range(50)]
    r = client.post("/v1/baselines", headers=admin,
                    json={"model": "writer", "name": "b", "records": records})  # fmt: skip
    monitor = {"model": "writer", "baseline_id": r.json()["id"], "judges": ["correct"]}
    r = client.post("/v1/monitors", json=monitor, headers=admin)
    assert r.status_code == 422 and "no judge ['correct']" in r.text
    assert client.post("/v1/judges", json=JUDGE, headers=admin).status_code == 201
    r = client.post("/v1/monitors", json=monitor, headers=admin)
    assert r.status_code == 201 and r.json()["judges"] == ["correct"]
    r = client.delete("/v1/judges/correct", headers=admin)
    assert r.status_code == 409 and "run by monitor(s)" in r.text
    mid = client.get("/v1/monitors", headers=admin).json()["monitors"][0]["id"]
    r = client.patch(f"/v1/monitors/{mid}", json={"judges": []}, headers=admin)
    assert r.status_code == 200 and r.json()["judges"] == []
    assert client.delete("/v1/judges/correct", headers=admin).status_code == 204
