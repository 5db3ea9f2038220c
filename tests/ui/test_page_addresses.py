"""A page's address that its parameters refuse — a NUL byte, a number that is not one, a value
too long — is answered with a page saying so (400, HTML), never a 500 or the API's JSON; the
API keeps its JSON errors. Every page route with a path parameter is tried, not a list."""

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.api.ui.router import router
from app.auth.keys import create_key
from app.auth.projects import create_project
from app.db.session import make_sessionmaker, session_scope
from tests.conftest import auth
from tests.ui.test_fleet_paging import sign_in

# Every page route and a bad value for each of its path parameters (a NUL byte, then a value
# past every length limit).
PAGE_ROUTES = sorted(
    {route.path for route in router.routes if "{" in getattr(route, "path", "")}
)  # fmt: skip
BAD_VALUES = ("x%00y", "x" * 300)


def bad_paths() -> list[str]:
    paths = []
    for template in PAGE_ROUTES:
        for bad in BAD_VALUES:
            paths.append(re.sub(r"\{[^}]+\}", bad, template))
    return paths


def test_every_page_route_with_a_path_parameter_is_tried() -> None:
    assert {"/models/{name:path}", "/windows/{run_id}", "/events/{model:path}/{request_id}",
            "/windows/{run_id}/label"} <= set(PAGE_ROUTES)  # fmt: skip


@pytest.fixture
def browser(client: TestClient, make_key: Callable[..., str]) -> TestClient:
    sign_in(client, make_key("read", "annotate"))
    return client


@pytest.mark.parametrize("path", bad_paths())
def test_a_refused_path_is_a_page_saying_so(browser: TestClient, path: str) -> None:
    r = browser.get(path)
    assert r.status_code in (400, 404), (path, r.status_code, r.text[:200])
    assert r.headers["content-type"].startswith("text/html"), (path, r.text[:200])


@pytest.mark.parametrize(
    "path",
    [
        "/events?model=a%00b", "/events?model=m&from=2026%00", "/events?model=m&q=a%00",
        "/events?model=m&cursor=%00", "/models/m?from=%00", "/models/m?windows=many",
        "/compare?a=x&b=1", "/compare?a=1", "/compare?a=0&b=1",
        "/windows/1/label?after=%00", "/windows/1?x=1&y=%00", "/windows/-1",
        "/windows/99999999999999999999",
    ],
)  # fmt: skip
def test_refused_query_values_are_a_page_saying_so(browser: TestClient, path: str) -> None:
    r = browser.get(path)
    assert r.status_code in (400, 404), (path, r.status_code, r.text[:200])
    assert r.headers["content-type"].startswith("text/html"), (path, r.text[:200])
    if r.status_code == 400:
        assert "Not a valid address" in r.text


def test_the_api_keeps_its_json_errors(client: TestClient, make_key: Callable[..., str]) -> None:
    r = client.get("/v1/events/m/r%00", headers=auth(make_key("read")))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"


def test_a_project_bound_sign_in_sees_no_other_projects_events_or_windows(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    admin = auth(make_key("admin"))
    event = {"model": "shop", "request_id": "r1", "prompt": "p", "output": "o",
             "ts": "2026-11-02T00:10:00Z"}  # fmt: skip
    assert client.post("/v1/events", json=event, headers=admin).status_code == 202
    records = b'{"prompt": "p", "output": "o"}\n{"prompt": "q", "output": "o"}'
    b = client.post(
        "/v1/baselines",
        data={"model": "shop", "name": "b"},
        files={"file": ("b.jsonl", records, "application/x-ndjson")},
        headers=admin,
    )
    m = client.post(
        "/v1/monitors",
        json={"name": "m", "model": "shop", "window": "1h", "baseline_id": b.json()["id"]},
        headers=admin,
    )
    with engine.begin() as conn:
        run = conn.execute(
            text("INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end, "
                 "status, results) VALUES (:m, 0, '2026-11-02', '2026-11-02 01:00', 'done', "
                 "'{\"label_queue\": [{\"request_id\": \"r1\", \"score\": 1, \"reasons\": []}]}')"
                 " RETURNING id"),
            {"m": m.json()["id"]},
        ).scalar_one()  # fmt: skip
    with session_scope(make_sessionmaker(engine)) as session:
        project = create_project(session, "elsewhere")
        _, key = create_key(session, name="x", scopes=["read", "annotate"], project_id=project.id)
    pages = ["/events?model=shop&from=2026-11-02T00:00&to=2026-11-03T00:00", "/events/shop/r1",
             f"/windows/{run}", f"/windows/{run}/label", f"/compare?a={run}&b={run}",
             "/models/shop"]  # fmt: skip
    sign_in(client, make_key("read", "annotate"))
    assert [client.get(p).status_code for p in pages] == [200] * len(pages)  # they exist
    client.cookies.clear()
    sign_in(client, key)
    assert [client.get(p).status_code for p in pages] == [404] * len(pages)
    form = client.get("/events")  # a token of this session for the labelling form
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    answer = {"csrf": token.group(1), "request_id": "r1", "label_text": "x"}
    assert client.post(f"/windows/{run}/label", data=answer).status_code == 404
