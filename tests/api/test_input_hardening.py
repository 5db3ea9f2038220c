"""Inputs that used to get a 500, a silent misreading or a leak (issue 12's lower items)."""

import asyncio
import io
import json
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import auth
from tests.processes import free_port


@pytest.fixture
def admin(make_key: Callable[..., str]) -> dict[str, str]:
    return auth(make_key("admin"))


def deep(levels: int) -> dict[str, object]:
    value: object = 1
    for _ in range(levels - 1):
        value = {"a": value}
    return {"a": value}


@pytest.mark.parametrize("ts", ["9999-12-31T00:00:00Z", "1970-01-01T00:00:00Z"])
def test_feedback_timestamps_are_bounded_like_events(
    client: TestClient, ingest_headers: dict[str, str], ts: str
) -> None:
    r = client.post(
        "/v1/feedback",
        json={"model": "m", "request_id": "r", "label": "x", "ts": ts},
        headers=ingest_headers,
    )
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("ts"), r.text


def test_baseline_metadata_nesting_is_bounded_on_every_path(
    client: TestClient, admin: dict[str, str]
) -> None:
    ok = {"prompt": "p", "metadata": deep(64)}
    bad = {"prompt": "p", "metadata": deep(65)}
    r = client.post(
        "/v1/baselines", json={"model": "m", "name": "ok", "records": [ok]}, headers=admin
    )
    assert r.status_code == 202, r.text
    r = client.post(
        "/v1/baselines", json={"model": "m", "name": "j", "records": [bad]}, headers=admin
    )
    assert r.status_code == 422 and "at most 64" in r.text, r.text
    upload = io.BytesIO((json.dumps(ok) + "\n" + json.dumps(bad) + "\n").encode())
    r = client.post(
        "/v1/baselines", data={"model": "m", "name": "f"},
        files={"file": ("b.jsonl", upload, "application/x-ndjson")}, headers=admin,
    )  # fmt: skip
    assert r.status_code == 422 and "line 2" in r.text and "at most 64" in r.text, r.text


def csv_upload(
    client: TestClient, admin: dict[str, str], name: str, body: str
) -> dict[str, object]:
    r = client.post(
        "/v1/baselines", data={"model": "m", "name": name},
        files={"file": ("b.csv", io.BytesIO(body.encode()), "text/csv")}, headers=admin,
    )  # fmt: skip
    return {**r.json(), "http": r.status_code}


def test_csv_uploads_with_big_cells_and_broken_quotes(
    client: TestClient, admin: dict[str, str]
) -> None:
    big = csv_upload(client, admin, "big", "prompt,output\n" + "x" * 200_000 + ",o\nq,o\n")
    assert big["http"] == 202 and big["record_count"] == 2, big
    broken = csv_upload(client, admin, "quote", 'prompt,output\n"never closed,o\nq,o\nr,o\n')
    assert broken["http"] == 422 and "malformed CSV" in str(broken), broken
    extra = csv_upload(client, admin, "extra", "prompt,output\np,o,surplus\n")
    assert extra["http"] == 422 and "more cells than the header" in str(extra), extra


@pytest.mark.parametrize("value", ["NaN", -1, "x", True, 0.5])
def test_threshold_overrides_must_be_sane_numbers(
    client: TestClient, admin: dict[str, str], value: object
) -> None:
    bid = client.post(
        "/v1/baselines", json={"model": "m", "name": "b", "records": [{"prompt": "p"}]},
        headers=admin,
    ).json()["id"]  # fmt: skip
    checks = {"min_labels": value} if value == 0.5 else {"text_auc": value}
    r = client.post(
        "/v1/monitors", json={"model": "m", "baseline_id": bid, "checks": checks}, headers=admin
    )
    assert r.status_code == 422, (value, r.text)


def test_readyz_never_tells_where_the_database_is() -> None:
    port = free_port()
    url = f"postgresql+psycopg://secretuser:pw@127.0.0.1:{port}/secret_db_name"
    app = create_app(url, Settings(db_connect_timeout_seconds=1))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["database"] == "unreachable"
    for secret in (str(port), "secret_db_name", "secretuser", "127.0.0.1"):
        assert secret not in r.text, r.text


def test_bodies_past_the_in_flight_budget_wait_their_turn(
    database_url: str, ingest_headers: dict[str, str]
) -> None:
    app = create_app(database_url, Settings(max_inflight_body_bytes=1_000))
    event = {"model": "m", "prompt": "p" * 2_000, "output": "o"}
    with TestClient(app) as c:
        r = c.post("/v1/events", json=event, headers=ingest_headers)
        assert r.status_code == 503 and r.json()["error"]["code"] == "busy", r.text
        assert r.headers["retry-after"]
        small = c.post("/v1/events", json={**event, "prompt": "p"}, headers=ingest_headers)
        assert small.status_code == 202, small.text


def test_no_key_no_body_read(client: TestClient) -> None:
    # Not even a malformed body is looked at without a key.
    r = client.post(
        "/v1/events", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401 and r.headers["connection"] == "close"


def test_a_streamed_body_past_the_limit_is_413_on_every_route(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    headers = {**auth(make_key("admin", "ingest")), "Content-Type": "application/json"}

    def chunks() -> object:  # no Content-Length: the limit is enforced while reading
        yield b'{"training": {"f1": 0.9}, "pad": "'
        for _ in range(11):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    for method, path in (("PUT", "/v1/models/m/metrics"), ("POST", "/v1/events")):
        r = client.request(method, path, content=chunks(), headers=headers)
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large", (
            path, r.text[:200],
        )  # fmt: skip


@pytest.mark.parametrize("path", ["/v1/events", "/v1/feedback", "/v1/otlp/v1/traces"])
def test_a_client_that_hangs_up_mid_body_is_a_4xx_not_a_server_error(
    app: FastAPI, make_key: Callable[..., str], path: str
) -> None:
    """wrk stopping, a killed exporter: the body never completes. That is the client's doing
    (400, nothing stored), not a 500 with a traceback that would page someone."""
    key = make_key("ingest")
    content_type = b"application/x-protobuf" if "otlp" in path else b"application/json"
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5), "server": ("t", 80),
        "headers": [(b"authorization", f"Bearer {key}".encode()),
                    (b"content-type", content_type), (b"content-length", b"1000")],
    }  # fmt: skip
    parts = [{"type": "http.request", "body": b'{"model": "m"', "more_body": True},
             {"type": "http.disconnect"}]  # fmt: skip
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return parts.pop(0) if parts else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400, sent
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert b"client_disconnected" in body or b"closed the connection" in body, body
