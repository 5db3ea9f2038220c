"""ASGI middleware: the body gate (key, size, memory and time limits before anything reads the
body) and timing.

Written as raw ASGI middleware because Starlette has no body-size limit of its own and a
limit applied after ``await request.body()`` would already have buffered an unbounded body.
"""

import asyncio
import time
from typing import Any

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.deps import VERIFIED_CALLER, authenticate
from app.api.errors import database_cause, database_unavailable, error_response
from app.errors import DriftlineError
from app.metrics.process import REQUEST_SECONDS, SLOW_CLIENTS

_BODY_METHODS = {"POST", "PUT", "PATCH"}
# Every route that takes a body needs a key: those bodies are read only for a known caller.
_KEYED_PREFIX = "/v1/"


class _BodyRefused(Exception):
    """Raised into the app when its body breaks a limit; the gate answers for it."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    async def answer(self, send: Send) -> None:
        await _answer(send, self.status, self.code, self.message, **self.extra)


class StalledReads:
    """Body reads in progress, each with the time it started waiting for a chunk; one sweep
    every quarter of ``timeout`` cancels the reads that have waited longer than ``timeout``.

    Written by hand because a deadline per chunk (``asyncio.timeout`` around each receive:
    a timer scheduled and cancelled, the current task looked up) was ≈6 % of a single
    event's CPU; here a chunk costs a dict entry and one timer serves the process. A stalled
    read is cut between 1 and 1.25 times ``timeout`` after its last chunk.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._waiting: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_loop: asyncio.AbstractEventLoop | None = None

    def waiting(self, task: asyncio.Task[Any]) -> None:
        """``task`` starts waiting for a chunk now."""
        loop = task.get_loop()
        self._waiting[task] = loop.time()
        # (A test client may run each request in a loop of its own: the sweep follows.)
        if self._sweep is None or self._sweep_loop is not loop:
            self._sweep_loop = loop
            self._sweep = loop.call_later(self.timeout / 4, self._cut_stalled, loop)

    def received(self, task: asyncio.Task[Any]) -> None:
        """``task`` got its chunk (or stopped waiting)."""
        self._waiting.pop(task, None)

    def cut(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task``'s cancellation was this sweep's doing (then it is no longer
        cancelled: the read answers 408 instead)."""
        if task not in self._expired:
            return False
        self._expired.discard(task)
        task.uncancel()
        return True

    def _cut_stalled(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep = None
        now = loop.time()
        for task, since in list(self._waiting.items()):
            if task.get_loop() is not loop:  # a test client's finished loop
                del self._waiting[task]
            elif now - since >= self.timeout:
                del self._waiting[task]
                self._expired.add(task)
                # Forgotten when it ends, even if the cancellation surfaced elsewhere.
                task.add_done_callback(self._expired.discard)
                task.cancel()
        if self._waiting:
            self._sweep = loop.call_later(self.timeout / 4, self._cut_stalled, loop)


class BodyGateMiddleware:
    """Guard the body of every request; never hold it.

    In order, each answered before the next costs anything: a body route under ``/v1/``
    without a valid key gets 401 before one body byte is read (an unauthenticated client
    cannot make the API buffer anything); a declared ``Content-Length`` over the route's limit
    gets 413; a body that would take this process's in-flight body bytes past
    ``max_inflight_bytes`` gets 503 with Retry-After. Then the app reads the body as it
    arrives, through a gate that counts it: past the route's limit the read fails and the
    client gets 413, past ``read_timeout`` seconds without a chunk, 408. Nothing here keeps a
    chunk, so an upload streams to wherever the route puts it (the multipart parser spools
    files to disk). ``overrides`` maps a path to its own limit (baseline uploads).
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
        self.stalled = StalledReads(read_timeout)
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
        if reserved and self.inflight + reserved > self.max_inflight_bytes:
            await self._busy(send)
            return
        self.inflight += reserved
        seen = 0
        extra = 0  # bytes beyond what Content-Length reserved (chunked bodies)
        started = False
        refusal: _BodyRefused | None = None

        def refuse(status: int, code: str, message: str, **more: Any) -> _BodyRefused:
            nonlocal refusal
            refusal = _BodyRefused(status, code, message, **more)
            return refusal

        task: asyncio.Task[Any] | None = None

        async def gated_receive() -> Message:
            nonlocal seen, extra, task
            task = task or asyncio.current_task()
            assert task is not None
            self.stalled.waiting(task)
            try:
                message = await receive()
            except asyncio.CancelledError:
                if not self.stalled.cut(task):
                    raise
                SLOW_CLIENTS.labels("body").inc()
                raise refuse(
                    408, "request_timeout",
                    f"no body bytes for {self.read_timeout:g} s; send the body at once",
                ) from None  # fmt: skip
            finally:
                self.stalled.received(task)
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise refuse(
                        413, "payload_too_large",
                        f"request body exceeds {limit} bytes; split the batch",
                        details={"max_bytes": limit},
                    )  # fmt: skip
                grow = seen - reserved - extra
                if grow > 0:
                    if self.inflight + grow > self.max_inflight_bytes:
                        raise refuse(503, "busy", _BUSY, headers=self._retry())
                    self.inflight += grow
                    extra += grow
            return message

        async def watched_send(message: Message) -> None:
            # FastAPI turns a failed body read into its own 400; the client gets the reason.
            nonlocal started
            if refusal is not None:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _answer(
                        send, refusal.status, refusal.code, refusal.message, **refusal.extra
                    )
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, gated_receive, watched_send)
        except _BodyRefused as refused:
            if not started:
                await refused.answer(send)
        finally:
            self.inflight -= reserved + extra

    def _retry(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    async def _known_caller(self, scope: Scope, header: bytes, send: Send) -> bool:
        state = scope["app"].state.driftline
        try:
            caller = await authenticate(state, header.decode("latin-1"))
        except DriftlineError as exc:
            await _answer(send, exc.status_code, exc.code, exc.message, headers=exc.headers)
            return False
        except Exception as exc:  # the key store is the database: unreachable means 503
            err = database_unavailable(self.retry_after, database_cause(exc))
            await _answer(send, err.status_code, err.code, err.message, headers=err.headers)
            return False
        # The route's scope check takes the caller from here instead of verifying again.
        scope.setdefault("state", {})[VERIFIED_CALLER] = caller
        return True

    async def _too_large(self, send: Send, limit: int) -> None:
        await _answer(
            send, 413, "payload_too_large",
            f"request body exceeds {limit} bytes; split the batch", {"max_bytes": limit},
        )  # fmt: skip

    async def _busy(self, send: Send) -> None:
        await _answer(send, 503, "busy", _BUSY, headers=self._retry())


_BUSY = "this API process is reading as many request bodies as it may hold; retry later"


async def _answer(
    send: Send,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> None:
    """The one error shape (``error_response``), sent before the body was read: so the
    connection is closed."""
    response = error_response(
        status, code, message, details, headers={**(headers or {}), "Connection": "close"}
    )
    await response({"type": "http"}, _never_receive, send)


async def _never_receive() -> Message:  # a response sends; it never reads the request
    raise RuntimeError("unreachable")


class RequestTimingMiddleware:
    """Observe each request's latency by route template (bounded labels, never raw paths)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # One series per route template, method and status class: bounded.
        self._series: dict[tuple[str, str, int], Histogram] = {}

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
            labels = (template, scope["method"], status // 100)
            series = self._series.get(labels)
            if series is None:  # a label lookup per request was 1.5 % of a single event
                series = REQUEST_SECONDS.labels(template, scope["method"], f"{status // 100}xx")
                self._series[labels] = series
            series.observe(time.perf_counter() - start)
