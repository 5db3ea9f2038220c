"""Inputs a schemathesis run (4.32, ~2,500 cases over all 22 operations) turned into 500s;
each is now a clear 4xx or a sanitised store."""

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import auth


def test_ids_beyond_the_column_range_are_422_not_500(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    h = auth(make_key("admin"))
    for path in ("/v1/monitors/34599318397465", "/v1/baselines/5296036216",
                 "/v1/monitors/5296036216/runs", "/v1/runs/99999999999999999999"):  # fmt: skip
        r = client.get(path, headers=h)
        assert r.status_code == 422, (path, r.text)
    r = client.post("/v1/monitors", json={"model": "m", "baseline_id": 2**40}, headers=h)
    assert r.status_code == 422


def test_a_lone_surrogate_is_a_400_and_a_valid_pair_round_trips(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    headers = {**auth(make_key("ingest")), "Content-Type": "application/json"}
    lone = b'{"model": "m", "request_id": "s", "prompt": "a\\udbb8b", "output": "o"}'
    r = client.post("/v1/events", content=lone, headers=headers)
    assert r.status_code == 400 and "surrogate" in r.json()["error"]["message"]
    pair = b'{"model": "m", "request_id": "p", "prompt": "\\ud83d\\ude00", "output": "o"}'
    r = client.post("/v1/events", content=pair, headers=headers)
    assert r.status_code == 202 and r.json()["sanitized"] == 0, r.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT prompt FROM events")).scalar_one() == "\U0001f600"


def test_extreme_numbers_and_names_are_refused_by_name(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    h = auth(make_key("admin"))
    ev = {"model": "m", "prompt": "p", "output": "o", "token_logprobs": [-1e300]}
    assert client.post("/v1/events", json=ev, headers=h).status_code == 422
    ev = {"model": "m", "prompt": "p", "output": "o", "embedding": [1e39]}
    assert client.post("/v1/events", json=ev, headers=h).status_code == 422
    rec = {"model": "m", "name": "b", "records": [{"prompt": "p", "token_logprobs": [-1e308]}]}
    assert client.post("/v1/baselines", json=rec, headers=h).status_code == 422
    long_name = "x" * 300
    r = client.get(f"/v1/exports/retraining?model={long_name}&since=2026-01-01", headers=h)
    assert r.status_code == 422
    assert client.get("/v1/baselines?model=a%00b", headers=h).status_code == 422


def test_export_file_name_is_ascii_whatever_the_model_is_called(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    r = client.get(
        "/v1/exports/retraining?model=lorem+لا+你好&since=2026-01-01T00:00:00Z",
        headers=auth(make_key("read")),
    )
    assert r.status_code == 200
    assert 'filename="retraining-lorem_-' in r.headers["content-disposition"]
