"""The ingest routes are served by HotPathMiddleware, just inside the body gate, while their
FastAPI routes stay to document them: both halves of that arrangement, checked."""

import logging
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.hot_path import HotPathMiddleware


def _hot_path(app: FastAPI) -> HotPathMiddleware:
    layer: Any = app.build_middleware_stack()
    while not isinstance(layer, HotPathMiddleware):
        layer = layer.app
    return layer


def test_ingest_posts_are_served_before_routing_and_stay_documented(app: FastAPI) -> None:
    assert set(_hot_path(app).routes) == {("/v1/events", "POST"), ("/v1/feedback", "POST")}
    for path in ("/v1/events", "/v1/feedback"):
        assert "post" in app.openapi()["paths"][path]


def test_errors_on_the_hot_path_take_the_apps_error_shape(
    client: TestClient, ingest_headers: dict[str, str]
) -> None:
    # A DriftlineError (422 from validation), a 415 and another method on the same path
    # (routed by FastAPI, 405) all answer in the one error shape.
    bad = client.post("/v1/events", json={"model": "m"}, headers=ingest_headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    assert "prompt" in str(bad.json()["error"]["details"])
    text = client.post("/v1/feedback", content=b"x", headers={**ingest_headers,
                       "Content-Type": "text/plain"})  # fmt: skip
    assert text.status_code == 415 and text.json()["error"]["code"] == "unsupported_media_type"
    other = client.put("/v1/events", json={}, headers=ingest_headers)
    assert other.status_code == 405 and other.json()["error"]["code"] == "method_not_allowed"


def test_an_unexpected_error_on_the_hot_path_is_a_logged_500_in_the_error_shape(
    app: FastAPI,
    client: TestClient,
    ingest_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No handler of the app takes a bug: it goes on to the outermost middleware, which logs
    # it and answers 500 in the one shape (the same as on any FastAPI route).
    async def broken(*_: Any) -> int:
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(app.state.driftline.ingest, "submit", broken)
    with caplog.at_level(logging.ERROR, logger="driftline.api"):
        answer = client.post("/v1/events", json={"model": "m", "prompt": "p", "output": "o"},
                             headers=ingest_headers)  # fmt: skip
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "a bug in the writer" not in answer.text
    assert any("a bug in the writer" in str(r.exc_info) for r in caplog.records)


def test_a_response_carries_its_length_and_type(
    client: TestClient, ingest_headers: dict[str, str]
) -> None:
    answer = client.post("/v1/feedback", json={"model": "m", "request_id": "r", "label": "x"},
                         headers=ingest_headers)  # fmt: skip
    assert answer.status_code == 202 and answer.json()["accepted"] == 1
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.content)
