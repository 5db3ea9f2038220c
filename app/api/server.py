"""How uvicorn serves the API: HTTP with a deadline for each request's headers.

uvicorn has keep-alive and body timeouts of its own (the body's is ``BodyGateMiddleware``'s)
but none for headers, so a client that opens a connection and trickles its header lines
("slow loris") would hold the connection for ever; a few hundred of them and real clients
wait. This protocol closes a connection whose request headers are not complete within
``DRIFTLINE_HEADER_READ_TIMEOUT_SECONDS`` and counts it. Named by its import path in
``uvicorn.Config(http=...)``, so that worker processes load it themselves.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import get_settings
from app.metrics import SLOW_CLIENTS


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
