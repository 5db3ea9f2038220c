"""The ingest routes are served by HotPathMiddleware, just inside the body gate, while their
FastAPI routes stay to document them: both halves of that arrangement, checked."""

from typing import Any

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
