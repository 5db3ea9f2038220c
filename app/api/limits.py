"""ASGI middleware: the body gate (key, size, memory and time limits before anything reads the
body) and timing.

Written as raw ASGI middleware because Starlette has no body-size limit of its own and a
limit applied after ``await request.body()`` would already have buffered an unbounded body.
"""

import asyncio
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.deps import authenticate
from app.api.errors import database_cause, database_unavailable
from app.errors import DriftlineError
from app.metrics import REQUEST_SECONDS, SLOW_CLIENTS

_BODY_METHODS = {"POST", "PUT", "PATCH"}
# Every route that takes a body needs a key: those bodies are read only for a known caller.
_KEYED_PREFIX = "/v1/"


class BodyGateMiddleware:
    """Guard the body of every request before anything reads it.

    In order, each answered before the next costs anything: a body route under ``/v1/``
    without a valid key gets 401 before one body byte is read (an unauthenticated client
    cannot make the API buffer anything); a declared ``Content-Length`` over the route's limit
    gets 413; a body that would take this process's in-flight body bytes past
    ``max_inflight_bytes`` gets 503 with Retry-After; then the body is read with the limit
    enforced chunk by chunk and ``read_timeout`` seconds allowed between chunks (408 for a
    client that trickles), and handed to the app as the same chunks (never joined here, so
    never held twice). ``overrides`` maps a path to its own limit (baseline uploads).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        overrides: dict[str, int] | None = None,
        max_inflight_bytes: int,
        read_timeout: float,
        retry_after: int,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = overrides or {}
        self.max_inflight_bytes = max_inflight_bytes
        self.read_timeout = read_timeout
        self.retry_after = retry_after
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if scope["path"].startswith(_KEYED_PREFIX) and not await self._known_caller(
            scope, headers.get(b"authorization", b""), send
        ):
            return
        limit = self.overrides.get(scope["path"], self.max_bytes)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(send, limit)
            return
        reserved = int(declared) if declared is not None and declared.isdigit() else 0
        if not self._reserve(reserved):
            await self._busy(send)
            return
        try:
            await self._read_and_forward(scope, receive, send, limit, reserved)
        finally:
            self.inflight -= reserved

    def _reserve(self, size: int) -> bool:
        if size and self.inflight + size > self.max_inflight_bytes:
            return False
        self.inflight += size
        return True

    async def _read_and_forward(
        self, scope: Scope, receive: Receive, send: Send, limit: int, reserved: int
    ) -> None:
        chunks: list[Message] = []
        size = 0
        extra = 0  # bytes beyond what Content-Length reserved (chunked bodies)
        try:
            while True:
                try:
                    message = await asyncio.wait_for(receive(), self.read_timeout)
                except TimeoutError:
                    SLOW_CLIENTS.labels("body").inc()
                    await _answer(
                        send, 408, "request_timeout",
                        f"no body bytes for {self.read_timeout:g} s; send the body at once",
                    )  # fmt: skip
                    return
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await self._too_large(send, limit)
                    return
                if size > reserved:
                    grow = size - reserved - extra
                    if not self._reserve(grow):
                        await self._busy(send)
                        return
                    extra += grow
                chunks.append(message)
                if not message.get("more_body", False):
                    break
            queue = iter(chunks)

            async def replay() -> Message:
                for message in queue:
                    return message
                return await receive()

            await self.app(scope, replay, send)
        finally:
            self.inflight -= extra

    async def _known_caller(self, scope: Scope, header: bytes, send: Send) -> bool:
        state = scope["app"].state.driftline
        try:
            await authenticate(state, header.decode("latin-1"))
        except DriftlineError as exc:
            await _answer(send, exc.status_code, exc.code, exc.message, headers=exc.headers)
            return False
        except Exception as exc:  # the key store is the database: unreachable means 503
            err = database_unavailable(self.retry_after, database_cause(exc))
            await _answer(send, err.status_code, err.code, err.message, headers=err.headers)
            return False
        return True

    async def _too_large(self, send: Send, limit: int) -> None:
        await _answer(
            send, 413, "payload_too_large",
            f"request body exceeds {limit} bytes; split the batch", {"max_bytes": limit},
        )  # fmt: skip

    async def _busy(self, send: Send) -> None:
        await _answer(
            send, 503, "busy",
            "this API process is reading as many request bodies as it may hold; retry later",
            headers={"Retry-After": str(self.retry_after)},
        )  # fmt: skip


async def _answer(
    send: Send,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> None:
    """The one error shape, sent before the body was read: so the connection is closed."""
    payload = orjson.dumps({"error": {"code": code, "message": message, "details": details}})
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class RequestTimingMiddleware:
    """Observe each request's latency by route template (bounded labels, never raw paths)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_SECONDS.labels(template, scope["method"], f"{status // 100}xx").observe(
                time.perf_counter() - start
            )
