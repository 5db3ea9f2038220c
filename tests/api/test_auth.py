"""Every route that needs a key: 401 without/with a bad or revoked key, 403 on the wrong scope."""

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import auth

# (method, path, scope it needs, a valid body). A new /v1 route must be added here:
# test_every_v1_route_is_covered fails otherwise.
PROTECTED = [
    ("POST", "/v1/events", "ingest", {"model": "m", "prompt": "p", "output": "o"}),
    ("POST", "/v1/feedback", "ingest", {"model": "m", "request_id": "r", "label": "x"}),
    ("GET", "/v1/models", "read", None),
]
OTHER_SCOPE = {"ingest": "read", "read": "ingest"}


def test_every_v1_route_is_covered(app: FastAPI) -> None:
    routes = {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        if path.startswith("/v1")
        for method in ops
    }
    assert routes == {(m, p) for m, p, _, _ in PROTECTED}


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
        r = client.request(method, path, json=body, headers=headers)
        return r.status_code, r.json()

    status, payload = call({})
    assert status == 401 and payload["error"]["code"] == "unauthorized"  # type: ignore[index]
    assert call({"Authorization": "Basic abc"})[0] == 401
    assert call(auth("dl_000000000000" + "x" * 43))[0] == 401
    assert call(auth("not-a-key"))[0] == 401
    good = make_key(scope)
    assert call(auth(good[:-1] + ("A" if good[-1] != "A" else "B")))[0] == 401
    assert call(auth(make_key(scope, revoked=True)))[0] == 401
    status, payload = call(auth(make_key(OTHER_SCOPE[scope])))
    assert status == 403 and payload["error"]["code"] == "forbidden"  # type: ignore[index]
    assert call(auth(good))[0] in (200, 202)
    assert call(auth(make_key("admin")))[0] in (200, 202)


def test_401_carries_www_authenticate(client: TestClient) -> None:
    r = client.get("/v1/models")
    assert r.headers["www-authenticate"] == "Bearer"


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    r = client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.delete("/v1/events")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
