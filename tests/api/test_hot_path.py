"""The ingest routes are served by plain routes in front of their FastAPI routes, which stay
to document them: both halves of that arrangement, checked."""

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match, Route


def test_ingest_posts_reach_the_plain_routes_and_stay_documented(app: FastAPI) -> None:
    for path in ("/v1/events", "/v1/feedback"):
        scope = {"type": "http", "method": "POST", "path": path, "root_path": ""}
        first = next(r for r in app.router.routes if r.matches(scope)[0] == Match.FULL)
        assert isinstance(first, Route) and not isinstance(first, APIRoute), first
        assert "post" in app.openapi()["paths"][path]
