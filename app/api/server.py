"""How uvicorn serves the API: HTTP with a deadline and a size limit for each request's
headers.

uvicorn has keep-alive and body timeouts of its own (the body's is ``BodyGateMiddleware``'s)
but none for headers, so a client that opens a connection and trickles its header lines
("slow loris") would hold the connection for ever; a few hundred of them and real clients
wait. This protocol closes a connection whose request headers are not complete within
``DRIFTLINE_HEADER_READ_TIMEOUT_SECONDS`` and counts it. Nor does uvicorn's httptools
protocol bound their size: 16 unauthenticated connections sending 100 MB of headers each
were read to the end (the api's RSS 756 -> 1,805 MB, kept) before the key was even looked
at. Headers past ``MAX_HEADER_BYTES`` get a 431 and the connection is closed. Named by its
import path in ``uvicorn.Config(http=...)``, so that worker processes load it themselves.
"""

import asyncio
import gc
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import get_settings
from app.metrics.process import SLOW_CLIENTS

# Request line and headers together; nginx's default buffers hold 32 KiB, Node's 16 KiB. A
# request with more is refused before any of it reaches the app.
MAX_HEADER_BYTES = 64 * 1024
_TOO_LARGE = orjson.dumps(
    {"error": {"code": "headers_too_large", "details": None,
               "message": f"the request's headers are larger than {MAX_HEADER_BYTES} bytes"}}
)  # fmt: skip


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline from the first byte of a request (or the
    connection) until its headers are complete."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read per process from the environment, as the app factory reads its settings.
        self.header_timeout = get_settings().header_read_timeout_seconds
        self.header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self.header_bytes = 0
        self.header_deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _too_slow(self) -> None:
        self.header_deadline = None
        if not self.transport.is_closing():
            SLOW_CLIENTS.labels("headers").inc()
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Counted after parsing: a chunk that completes the headers (and carries the start of
        # the body) disarmed the deadline, so only bytes still in the header phase count.
        if self.header_deadline is None or self.transport.is_closing():
            return
        self.header_bytes += len(data)
        if self.header_bytes > MAX_HEADER_BYTES:
            self._disarm()
            SLOW_CLIENTS.labels("headers_too_large").inc()
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: application/json\r\nconnection: close\r\n"
                b"content-length: " + str(len(_TOO_LARGE)).encode() + b"\r\n\r\n" + _TOO_LARGE
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_deadline is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


# Allocations (net) between two youngest-generation collections; CPython's default is 700.
GC_YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Make CPython's cyclic garbage collector cheap for request traffic; call once the app
    is built.

    A batch of 500 events allocates tens of thousands of objects that reference counting
    frees when the request ends. With the default thresholds the collector ran dozens of
    times per request, and each older-generation pass walked every object the imports left
    behind: ~20 % of the api's CPU at batch load (py-spy). Freezing what exists at start
    takes those objects out of every later pass, and a higher young threshold lets a
    request's objects die by reference count before a collection sees them
    (docs/benchmarks.md: batches +25 %, single events +15 to 28 %). Cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)
