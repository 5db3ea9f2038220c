"""The body gate cuts a body read that goes silent past the read timeout (408), and only
that: a slow body that keeps sending is read to the end. ASGI level, no server."""

import asyncio
import time
from typing import Any

import orjson

from app.api.limits import BodyGateMiddleware

TIMEOUT = 0.2


async def read_all(scope: Any, receive: Any, send: Any) -> None:
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def serve(chunks: int, gap: float, stall_after: int | None = None) -> tuple[int, Any, float]:
    """Status, body and seconds for a body of ``chunks`` chunks ``gap`` seconds apart (the
    client falling silent after ``stall_after`` of them)."""
    gate = BodyGateMiddleware(read_all, max_bytes=10**6, max_inflight_bytes=10**7,
                              read_timeout=TIMEOUT, retry_after=1)  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def run() -> float:
        count = 0

        async def receive() -> dict[str, Any]:
            nonlocal count
            if stall_after is not None and count >= stall_after:
                await asyncio.Event().wait()  # silent for ever
            await asyncio.sleep(gap)
            count += 1
            return {"type": "http.request", "body": b"x" * 10, "more_body": count < chunks}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/upload",
                 "headers": [(b"content-length", str(10 * chunks).encode())]}  # fmt: skip
        started = time.monotonic()
        await gate(scope, receive, send)
        return time.monotonic() - started

    seconds = asyncio.run(run())
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, seconds


def test_a_slow_body_that_keeps_sending_is_read_to_the_end() -> None:
    status, body, seconds = serve(chunks=8, gap=TIMEOUT / 3)
    assert (status, body) == (200, b"80") and seconds > 2 * TIMEOUT


def test_a_body_that_falls_silent_is_cut_with_408() -> None:
    status, body, seconds = serve(chunks=8, gap=0.01, stall_after=3)
    assert status == 408 and orjson.loads(body)["error"]["code"] == "request_timeout"
    assert seconds >= TIMEOUT  # not before the client was silent for the whole timeout
