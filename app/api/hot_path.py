"""The ingest routes, served as plain ASGI before FastAPI's routing.

Every event and feedback item comes through two routes. FastAPI's request handling around
an endpoint — dependency solving (even with none declared), the endpoint runner,
response-model validation and serialisation — cost about a quarter of the api's CPU per
single-event request; the layers between the body gate and a route (Starlette's exception
middleware, FastAPI's exit-stack middleware, the router's scan) another 7 %; and
Starlette's request/response objects and their exception wrapper about as much again
(py-spy and alternating runs; docs/benchmarks.md). So ``HotPathMiddleware``, placed just
inside the body gate and the timing middleware, serves them itself: it takes the caller
the gate verified, reads the body from the ASGI channel, calls the route's handler with
``(state, caller, body)`` and sends the answer as two ASGI messages. The FastAPI routes
stay, unreached, to describe them in the OpenAPI schema (their endpoints call the same
handlers). Errors are answered by the app's own exception handlers, as through the router;
an unexpected one still reaches the outermost 500 handler, and the gate's refusal of a
body (408, 413) reaches the gate. The OTLP route keeps its FastAPI route: its route class
answers errors as google.rpc.Status, and exporters send batches.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.body import read_json_body
from app.api.deps import AppState, ingest_context
from app.auth.keys import Caller

# What an ingest route does once its caller is known and its body read.
Handler = Callable[[AppState, Caller, bytes], Awaitable[BaseModel]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]
_JSON = (b"content-type", b"application/json")


@dataclass(frozen=True)
class HotRoute:
    """A route served here: FastAPI's route (its path template labels the timing metric,
    its status code is the answer's) and the handler that serves it."""

    route: APIRoute
    handle: Handler


def hot_routes(
    routers: Iterable[APIRouter], handlers: Mapping[Callable[..., Any], Handler]
) -> dict[tuple[str, str], HotRoute]:
    """The routes in ``routers`` whose endpoint is a key of ``handlers``, by
    ``(path, method)``, each served by that key's handler."""
    wanted = dict(handlers)
    found: dict[tuple[str, str], HotRoute] = {}
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.endpoint in wanted:
                hot = HotRoute(route, wanted.pop(route.endpoint))
                found.update({(route.path, method): hot for method in route.methods or ()})
    if wanted:
        raise RuntimeError(f"no route serves {sorted(e.__name__ for e in wanted)}")
    return found


class HotPathMiddleware:
    """Serve ``routes`` (``hot_routes``) here; pass every other request on (see module)."""

    def __init__(self, app: ASGIApp, *, routes: dict[tuple[str, str], HotRoute]) -> None:
        self.app = app
        self.routes = routes
        self._handlers: dict[type, ErrorHandler] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.routes.get((scope.get("path", ""), scope.get("method", "")))
        if hot is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["route"] = hot.route  # FastAPI sets it for its own routes
        try:
            state, caller = await ingest_context(scope)
            body = await read_json_body(Headers(scope=scope), receive)
            payload = (await hot.handle(state, caller, body)).model_dump_json().encode()
        except Exception as exc:
            handler = self._handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        length = (b"content-length", str(len(payload)).encode())
        await send({"type": "http.response.start", "status": hot.route.status_code or 200,
                    "headers": [_JSON, length]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})

    def _handler_for(self, handlers: dict[Any, Any], exc: Exception) -> ErrorHandler | None:
        """The app's handler for ``exc``'s class or its nearest base, as Starlette's exception
        middleware finds it; None for the catch-all (``Exception``), which belongs to the
        outermost middleware, and for what no handler takes (the gate's refusal)."""
        if self._handlers is None:
            self._handlers = {k: v for k, v in handlers.items()
                              if isinstance(k, type) and k is not Exception}  # fmt: skip
        for cls in type(exc).__mro__:
            if cls in self._handlers:
                return self._handlers[cls]
        return None
