"""Every route that needs a key: 401 without/with a bad or revoked key, 403 on the wrong scope."""

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.auth import keys as security
from app.db.session import make_sessionmaker
from tests.conftest import auth

# (method, path, scope it needs, a valid body). A new /v1 route must be added here:
# test_every_v1_route_is_covered fails otherwise.
NEW_MONITOR = {"model": "m", "baseline_id": 1, "window": "1h"}
RANGE = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}
PROTECTED = [
    ("POST", "/v1/events", "ingest", {"model": "m", "prompt": "p", "output": "o"}),
    ("POST", "/v1/feedback", "ingest", {"model": "m", "request_id": "r", "label": "x"}),
    ("POST", "/v1/otlp/v1/traces", "ingest", {"resourceSpans": []}),
    ("GET", "/v1/events?model=m&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", "read", None),
    ("GET", "/v1/events/{model}/{request_id}", "read", None),
    ("GET", "/v1/models", "read", None),
    ("GET", "/v1/models/{name}/status", "read", None),
    ("PUT", "/v1/models/{name}/metrics", "admin", {"training": {"f1": 0.9}}),
    ("GET", "/v1/models/{name}/prediction-rule", "read", None),
    ("PUT", "/v1/models/{name}/prediction-rule", "admin", {"source": "output"}),
    ("DELETE", "/v1/models/{name}/prediction-rule", "admin", None),
    ("POST", "/v1/baselines", "admin", {"model": "m", "name": "b", "records": [{"prompt": "p"}]}),
    ("POST", "/v1/baselines/from-window", "admin", {"model": "m", "name": "w", **RANGE}),
    ("GET", "/v1/baselines", "read", None),
    ("GET", "/v1/baselines/{baseline_id}", "read", None),
    ("POST", "/v1/monitors", "admin", NEW_MONITOR),
    ("GET", "/v1/monitors", "read", None),
    ("GET", "/v1/monitors/{monitor_id}", "read", None),
    ("PATCH", "/v1/monitors/{monitor_id}", "admin", {"enabled": False}),
    ("DELETE", "/v1/monitors/{monitor_id}", "admin", None),
    ("POST", "/v1/monitors/{monitor_id}/runs", "admin", RANGE),
    ("GET", "/v1/monitors/{monitor_id}/runs", "read", None),
    ("GET", "/v1/runs/{run_id}", "read", None),
    ("GET", "/v1/runs/{run_id}/report", "read", None),
    ("GET", "/v1/runs/{run_id}/label-queue", "read", None),
    ("GET", "/v1/exports/retraining?model=m&since=2026-01-01T00:00:00Z", "read", None),
    ("POST", "/v1/judges", "admin", {"name": "j", "base_url": "http://j/v1", "model": "m"}),
    ("GET", "/v1/judges", "read", None),
    ("GET", "/v1/judges/{name}", "read", None),
    ("PATCH", "/v1/judges/{name}", "admin", {"budget": 5}),
    ("DELETE", "/v1/judges/{name}", "admin", None),
    ("POST", "/v1/keys", "admin", {"name": "k", "scopes": ["read"]}),
    ("GET", "/v1/keys", "admin", None),
    ("DELETE", "/v1/keys/{key_id}", "admin", None),
    ("POST", "/v1/projects", "admin", {"name": "p"}),
    ("GET", "/v1/projects", "admin", None),
]
OTHER_SCOPE = {"ingest": "read", "read": "ingest", "admin": "read"}


def concrete(path: str) -> str:
    """Fill path parameters with ids that do not exist (auth is checked before lookup)."""
    return (
        path.replace("{name}", "nope")
        .replace("{model}", "nope")
        .replace("{request_id}", "r")
        .replace("_id}", "}")
        .format(baseline=999999, monitor=999999, run=999999, key=999999)
    )


def test_every_v1_route_is_covered(app: FastAPI) -> None:
    covered = {(m, p.split("?")[0]) for m, p, _, _ in PROTECTED}
    routes = {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        if path.startswith("/v1")
        for method in ops
    }
    assert routes == covered


@pytest.mark.parametrize(("method", "path", "scope", "body"), PROTECTED)
def test_route_demands_a_valid_key_with_its_scope(
    client: TestClient,
    make_key: Callable[..., str],
    method: str,
    path: str,
    scope: str,
    body: dict[str, str] | None,
) -> None:
    def call(headers: dict[str, str]) -> tuple[int, dict[str, object]]:
        r = client.request(method, concrete(path), json=body, headers=headers)
        return r.status_code, (r.json() if r.content else {})

    status, payload = call({})
    assert status == 401 and payload["error"]["code"] == "unauthorized"  # type: ignore[index]
    assert call({"Authorization": "Basic abc"})[0] == 401
    assert call(auth("dl_000000000000" + "x" * 43))[0] == 401
    assert call(auth("not-a-key"))[0] == 401
    good = make_key(scope)
    assert call(auth(good[:-1] + ("A" if good[-1] != "A" else "B")))[0] == 401
    assert call(auth(make_key(scope, revoked=True)))[0] == 401
    status, payload = call(auth(make_key(OTHER_SCOPE[scope])))
    if path.startswith("/v1/otlp/"):  # OTLP errors are a google.rpc.Status: PERMISSION_DENIED
        assert status == 403 and payload["code"] == 7, payload
    else:
        assert status == 403 and payload["error"]["code"] == "forbidden"  # type: ignore[index]
    # With the right scope the request gets past auth (it may still be a 404 or a 422).
    assert call(auth(good))[0] not in (401, 403, 500)
    assert call(auth(make_key("admin")))[0] not in (401, 403, 500)


def test_401_carries_www_authenticate(client: TestClient) -> None:
    r = client.get("/v1/models")
    assert r.headers["www-authenticate"] == "Bearer"


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    r = client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.delete("/v1/events")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_secrets_are_compared_in_constant_time_on_every_path(
    engine: Engine, make_key: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Timing cannot be measured reliably in a test; what we can pin is that every secret
    # comparison, database and cache path alike, goes through hmac.compare_digest.
    calls: list[tuple[str, str]] = []
    real = security.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    key = make_key("read")
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")  # same prefix
    verifier = security.KeyVerifier(ttl_seconds=60)
    with make_sessionmaker(engine)() as session:
        assert verifier.verify(session, forged) is None  # database path, wrong secret
        assert verifier.verify(session, key) is not None  # database path, then cached
        assert verifier.verify(session, key) is not None  # cache path
        assert verifier.verify(session, forged) is None  # cache path, wrong secret
    digest = security.hash_key(key)
    assert [a for a, _ in calls] == [digest] * 4
    assert [b for _, b in calls] == [security.hash_key(forged), digest, digest,
                                     security.hash_key(forged)]  # fmt: skip
