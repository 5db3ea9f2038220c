"""The ingest routes, served without FastAPI's per-request machinery.

Every event and feedback item comes through two routes. FastAPI's request handling around
an endpoint — dependency solving (even with none declared), the endpoint runner,
response-model validation and serialisation — cost about a quarter of the api's CPU per
single-event request (py-spy; docs/benchmarks.md: singles ≈3,400 → ≈4,800/s). Both
endpoints take only the ``Request`` and validate by hand, so a plain Starlette route in
front of each serves the same function; the FastAPI route behind it stays, unreached, to
describe the route in the OpenAPI schema. Errors go through the same app-level handlers.
The OTLP route keeps its FastAPI route: its route class answers errors as google.rpc.Status,
and exporters send batches.
"""

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Any]]


def _direct(route: APIRoute) -> Callable[[Request], Awaitable[Response]]:
    endpoint: Endpoint = route.endpoint
    status = route.status_code or 200

    async def serve(request: Request) -> Response:
        # The request-timing metric labels by route template, read from here (FastAPI
        # sets it for its own routes; Starlette does not).
        request.scope["route"] = route
        result = await endpoint(request)
        if isinstance(result, Response):
            return result
        assert isinstance(result, BaseModel)
        return Response(result.model_dump_json(), status_code=status,
                        media_type="application/json")  # fmt: skip

    return serve


def serve_directly(
    api: FastAPI, routers: Iterable[APIRouter], endpoints: Iterable[Endpoint]
) -> None:
    """Put a plain route in front of each route of ``routers`` whose endpoint is listed."""
    wanted = set(endpoints)
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.endpoint in wanted:
                wanted.discard(route.endpoint)
                api.router.routes.insert(
                    0, Route(route.path, _direct(route), methods=sorted(route.methods or ()))
                )
    if wanted:
        raise RuntimeError(f"no route serves {sorted(e.__name__ for e in wanted)}")
