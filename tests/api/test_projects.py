"""Projects: a key bound to one project neither sees nor writes another project's models.
Every route, tried with the other project's key: 404 (as if absent) and nothing written."""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.auth.keys import create_key
from app.auth.projects import create_project
from app.baselines.profiles import build_pending_profiles
from app.datasets import health_tweets
from app.db.session import make_sessionmaker, session_scope
from app.errors import DriftlineError
from app.models.ownership import ModelOwners
from app.models.predictions import RuleCache
from tests.conftest import auth

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
def project_keys(engine: Engine) -> dict[str, dict[str, str]]:
    keys = {}
    with session_scope(make_sessionmaker(engine)) as session:
        for name in ("alpha", "beta"):
            project = create_project(session, name)
            _, key = create_key(session, name=name, scopes=["admin"], project_id=project.id)
            keys[name] = auth(key)
    return keys


def counts(engine: Engine) -> dict[str, int]:
    tables = ("events", "feedback", "baselines", "monitors", "monitor_runs", "models")
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def test_another_projects_key_gets_404_everywhere_and_writes_nothing(
    client: TestClient, engine: Engine, project_keys: dict[str, dict[str, str]]
) -> None:
    a, b = project_keys["alpha"], project_keys["beta"]
    tweets = list(health_tweets(without_urls=True).text[:150])
    ts = (NOW - timedelta(minutes=30)).isoformat()
    events = [
        {"model": "a-bot", "request_id": f"r{i}", "prompt": t, "output": "ok", "ts": ts}
        for i, t in enumerate(tweets[:40])
    ]
    assert client.post("/v1/events", json={"events": events}, headers=a).status_code == 202
    fb = {"model": "a-bot", "request_id": "r1", "label": "x"}
    assert client.post("/v1/feedback", json=fb, headers=a).status_code == 202
    records = [{"prompt": t, "output": "ok"} for t in tweets[40:]]
    r = client.post(
        "/v1/baselines", json={"model": "a-bot", "name": "h", "records": records}, headers=a
    )
    assert r.status_code == 202, r.text
    bid = r.json()["id"]
    build_pending_profiles(engine)
    r = client.post(
        "/v1/monitors",
        json={
            "model": "a-bot",
            "baseline_id": bid,
            "window": "1h",
            "start_at": (NOW - timedelta(hours=2)).isoformat(),
        },
        headers=a,
    )
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    window = {
        "start": (NOW - timedelta(hours=2)).isoformat(),
        "end": (NOW - timedelta(hours=1)).isoformat(),
    }
    runs = client.post(f"/v1/monitors/{mid}/runs", json=window, headers=a).json()["runs"]
    run_id = runs[0]["id"]
    before = counts(engine)

    tries = [
        ("POST", "/v1/events", {"model": "a-bot", "prompt": "p", "output": "o"}),
        ("POST", "/v1/feedback", {"model": "a-bot", "request_id": "r2", "label": "y"}),
        ("PUT", "/v1/models/a-bot/metrics", {"training": {"f1": 0.9}}),
        ("GET", "/v1/models/a-bot/status", None),
        ("PUT", "/v1/models/a-bot/prediction-rule", {"source": "output"}),
        ("GET", "/v1/models/a-bot/prediction-rule", None),
        ("DELETE", "/v1/models/a-bot/prediction-rule", None),
        ("POST", "/v1/baselines", {"model": "a-bot", "name": "b2", "records": [{"prompt": "p"}]}),
        ("POST", "/v1/baselines/from-window", {"model": "a-bot", "name": "w", **window}),
        ("GET", f"/v1/baselines/{bid}", None),
        ("POST", "/v1/monitors", {"model": "a-bot", "baseline_id": bid}),
        ("GET", f"/v1/monitors/{mid}", None),
        ("PATCH", f"/v1/monitors/{mid}", {"enabled": False}),
        ("POST", f"/v1/monitors/{mid}/runs", window),
        ("GET", f"/v1/monitors/{mid}/runs", None),
        ("DELETE", f"/v1/monitors/{mid}", None),
        ("GET", f"/v1/runs/{run_id}", None),
        ("GET", f"/v1/runs/{run_id}/report", None),
        ("GET", f"/v1/runs/{run_id}/label-queue", None),
        ("GET", "/v1/exports/retraining?model=a-bot&since=2026-01-01T00:00:00Z", None),
    ]
    answers = {
        f"{method} {path}": client.request(method, path, json=body, headers=b).status_code
        for method, path, body in tries
    }
    assert answers == dict.fromkeys(answers, 404), answers
    assert counts(engine) == before
    # Lists show only the caller's project.
    for path, field in (
        ("/v1/models", "models"),
        ("/v1/baselines", "baselines"),
        ("/v1/monitors", "monitors"),
    ):
        assert client.get(path, headers=b).json()[field] == []
        assert len(client.get(path, headers=a).json()[field]) == 1
    # The owner still has it all.
    assert client.get(f"/v1/runs/{run_id}", headers=a).status_code == 200
    assert client.get("/v1/models/a-bot/status", headers=a).status_code == 200


def test_an_operators_key_sees_every_project_and_manages_keys(
    client: TestClient, make_key: Callable[..., str], project_keys: dict[str, dict[str, str]]
) -> None:
    a = project_keys["alpha"]
    assert (
        client.post(
            "/v1/events", json={"model": "a-bot", "prompt": "p", "output": "o"}, headers=a
        ).status_code
        == 202
    )
    operator = auth(make_key("admin"))
    assert [m["name"] for m in client.get("/v1/models", headers=operator).json()["models"]] == [
        "a-bot"
    ]
    # A project admin makes keys for its own project only; the new key is bound to it.
    r = client.post("/v1/keys", json={"name": "svc", "scopes": ["ingest"]}, headers=a)
    assert r.status_code == 201 and r.json()["project"] == "alpha" and r.json()["key"], r.text
    assert (
        client.post(
            "/v1/keys", json={"name": "x", "scopes": ["read"], "project": "beta"}, headers=a
        ).status_code
        == 404
    )
    listed = client.get("/v1/keys", headers=a).json()["keys"]
    assert {k["project"] for k in listed} == {"alpha"} and all(k["key"] is None for k in listed)
    beta_key_id = next(
        k["id"]
        for k in client.get("/v1/keys", headers=operator).json()["keys"]
        if k["project"] == "beta"
    )
    assert client.delete(f"/v1/keys/{beta_key_id}", headers=a).status_code == 404
    assert client.post("/v1/projects", json={"name": "gamma"}, headers=a).status_code == 403
    assert client.post("/v1/projects", json={"name": "gamma"}, headers=operator).status_code == 201
    assert [p["name"] for p in client.get("/v1/projects", headers=a).json()["projects"]] == [
        "alpha"
    ]
    new_key = {"Authorization": f"Bearer {r.json()['key']}"}
    assert (
        client.post(
            "/v1/events", json={"model": "a-bot", "prompt": "p", "output": "o"}, headers=new_key
        ).status_code
        == 202
    )
    assert client.delete(f"/v1/keys/{r.json()['id']}", headers=a).status_code == 204
    assert (
        client.post(
            "/v1/events", json={"model": "a-bot", "prompt": "p", "output": "o"}, headers=new_key
        ).status_code
        == 401
    )


def test_the_owner_cache_answers_alone_only_for_models_it_knows(engine: Engine) -> None:
    # Ingest writes a group without a transaction only when the caches answer alone
    # (app.ingest); what they answer must be what the database would.
    owners = ModelOwners()
    with session_scope(make_sessionmaker(engine)) as session:
        mine, theirs = create_project(session, "mine"), create_project(session, "theirs")
        assert not owners.claimed(mine.id, {"a"})  # unknown: ask the database
        owners.claim(session, mine.id, {"a"})
        owners.claim(session, theirs.id, {"b"})
    assert owners.claimed(mine.id, {"a"}) and owners.claimed(None, {"a", "b"})
    assert not owners.claimed(mine.id, {"a", "c"})
    with pytest.raises(DriftlineError) as refused:
        owners.claimed(mine.id, {"a", "b"})
    assert refused.value.status_code == 404


def test_the_rule_cache_answers_alone_only_while_every_entry_is_fresh(engine: Engine) -> None:
    rules = RuleCache(ttl=0.2)
    with engine.begin() as conn:
        assert rules.cached({"m"}) is None
        assert rules.for_models(conn, {"m"}) == {}  # looked up: m has no rule
    assert rules.cached({"m"}) == {}
    assert rules.cached({"m", "n"}) is None
    time.sleep(0.25)
    assert rules.cached({"m"}) is None  # stale: ask again


def test_monitor_names_are_per_project_and_never_name_another_projects_monitor(
    client: TestClient, project_keys: dict[str, dict[str, str]]
) -> None:
    ids = {}
    for project, headers in project_keys.items():
        model = f"{project}-bot"
        records = [{"prompt": f"q{i}", "output": "ok"} for i in range(20)]
        r = client.post("/v1/baselines", headers=headers,
                        json={"model": model, "name": "h", "records": records})  # fmt: skip
        assert r.status_code == 202, r.text
        monitor = {"name": "hourly", "model": model, "baseline_id": r.json()["id"]}
        r = client.post("/v1/monitors", json=monitor, headers=headers)
        assert r.status_code == 201, r.text  # the same name in each project
        ids[project] = r.json()["id"]
        # A second "hourly" in the same project is the conflict, naming only its own.
        r = client.post("/v1/monitors", json=monitor, headers=headers)
        assert r.status_code == 409 and "'hourly'" in r.text
    for project, headers in project_keys.items():
        listed = client.get("/v1/monitors", headers=headers).json()["monitors"]
        assert [(m["id"], m["name"]) for m in listed] == [(ids[project], "hourly")]


def test_a_project_cannot_own_more_model_names_than_its_cap(
    database_url: str, make_key: Callable[..., str]
) -> None:
    from app.config import Settings
    from app.main import create_app

    settings = Settings(database_url=None, api_key_cache_seconds=0, max_models_per_project=3)
    key = auth(make_key("ingest"))
    with TestClient(create_app(database_url, settings)) as client:
        for i in range(3):
            event = {"model": f"m{i}", "prompt": "p", "output": "o"}
            assert client.post("/v1/events", json=event, headers=key).status_code == 202
        r = client.post("/v1/events", json={"model": "m3", "prompt": "p", "output": "o"},
                        headers=key)  # fmt: skip
        assert r.status_code == 403 and "limit of 3" in r.text
        # Names it owns still take events.
        r = client.post("/v1/events", json={"model": "m0", "prompt": "p", "output": "o"},
                        headers=key)  # fmt: skip
        assert r.status_code == 202
