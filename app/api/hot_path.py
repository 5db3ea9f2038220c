"""The ingest routes, dispatched before FastAPI's routing.

Every event and feedback item comes through two routes. FastAPI's request handling around
an endpoint — dependency solving (even with none declared), the endpoint runner,
response-model validation and serialisation — cost about a quarter of the api's CPU per
single-event request, and the layers between the body gate and a route (Starlette's
exception middleware, FastAPI's exit-stack middleware, the router's scan) another 7 %
(py-spy; docs/benchmarks.md). Both endpoints take only the ``Request`` and validate by hand,
so ``HotPathMiddleware``, placed just inside the body gate and the timing middleware,
serves them itself; the FastAPI routes stay, unreached, to describe them in the OpenAPI
schema. Errors go to the app's own exception handlers, as they would through the router;
an unexpected one still reaches the outermost 500 handler. The OTLP route keeps its FastAPI
route: its route class answers errors as google.rpc.Status, and exporters send batches.
"""

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import request_response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Any]]
# Where Starlette's exception middleware leaves the app's handlers for the route wrapper
# (``starlette._exception_handler``); set here since that middleware is skipped.
_HANDLERS_KEY = "starlette.exception_handlers"


def _direct(route: APIRoute) -> Callable[[Request], Awaitable[Response]]:
    endpoint: Endpoint = route.endpoint
    status = route.status_code or 200

    async def serve(request: Request) -> Response:
        # The request-timing metric labels by route template, read from here (FastAPI
        # sets it for its own routes).
        request.scope["route"] = route
        result = await endpoint(request)
        if isinstance(result, Response):
            return result
        assert isinstance(result, BaseModel)
        return Response(result.model_dump_json(), status_code=status,
                        media_type="application/json")  # fmt: skip

    return serve


def hot_routes(
    routers: Iterable[APIRouter], endpoints: Iterable[Endpoint]
) -> dict[tuple[str, str], APIRoute]:
    """The route of each listed endpoint in ``routers``, by ``(path, method)``."""
    wanted = set(endpoints)
    found: dict[tuple[str, str], APIRoute] = {}
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.endpoint in wanted:
                wanted.discard(route.endpoint)
                found.update({(route.path, method): route for method in route.methods or ()})
    if wanted:
        raise RuntimeError(f"no route serves {sorted(e.__name__ for e in wanted)}")
    return found


class HotPathMiddleware:
    """Serve ``routes`` (``hot_routes``) here; pass every other request on (see module)."""

    def __init__(self, app: ASGIApp, *, routes: dict[tuple[str, str], APIRoute]) -> None:
        self.app = app
        self.routes = {key: request_response(_direct(route)) for key, route in routes.items()}
        self._handlers: tuple[dict[Any, Any], dict[int, Any]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        serve = self.routes.get((scope.get("path", ""), scope.get("method", "")))
        if serve is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._handlers is None:
            self._handlers = _route_error_handlers(scope["app"].exception_handlers)
        scope[_HANDLERS_KEY] = self._handlers
        await serve(scope, receive, send)


def _route_error_handlers(handlers: dict[Any, Any]) -> tuple[dict[Any, Any], dict[int, Any]]:
    """The app's handlers as Starlette's exception middleware holds them: by exception class
    and by status code; the catch-all (``Exception``/500) stays with the outermost
    middleware."""
    by_class = {k: v for k, v in handlers.items() if isinstance(k, type) and k is not Exception}
    by_status = {k: v for k, v in handlers.items() if isinstance(k, int) and k != 500}
    return by_class, by_status
