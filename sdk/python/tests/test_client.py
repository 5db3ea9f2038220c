"""The client against scripted HTTP answers (httpx.MockTransport)."""

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import List

import httpx
from driftline_client import AsyncDriftline, Driftline


class Server:
    """Answers from a script (then 202s), recording every request body."""

    def __init__(self, script: List[object] = ()) -> None:  # type: ignore[assignment]
        self.script = list(script)
        self.bodies: List[dict] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self.lock:
            self.bodies.append(body)
            step = self.script.pop(0) if self.script else 202
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        if step == 202:
            items = body.get("events") or body.get("feedback")
            return httpx.Response(202, json={"accepted": len(items), "duplicates": 0})
        if isinstance(step, tuple):
            return httpx.Response(step[0], json=step[1])
        return httpx.Response(int(step), json={"error": {"message": "nope"}})


def client(server: Server, **kw) -> Driftline:  # type: ignore[no-untyped-def]
    return Driftline("http://dl", "dl_key", transport=httpx.MockTransport(server),
                     flush_interval=0.05, max_backoff=0.05, **kw)  # fmt: skip


def test_batches_by_size_and_sends_everything() -> None:
    server = Server()
    dl = client(server, batch_size=100)
    ids = [dl.log(model="m", prompt=f"p{i}", output="o") for i in range(250)]
    assert dl.flush(5)
    sent = [e["request_id"] for b in server.bodies for e in b["events"]]
    assert sorted(sent) == sorted(ids) and len(set(ids)) == 250
    assert max(len(b["events"]) for b in server.bodies) <= 100
    assert dl.stats().sent == 250
    dl.close()


def test_retries_resend_the_same_request_ids() -> None:
    server = Server([503, httpx.ConnectError("down"), 429])
    dl = client(server)
    rid = dl.log(model="m", prompt="p", output="o")
    assert dl.flush(5)
    assert len(server.bodies) == 4
    assert {b["events"][0]["request_id"] for b in server.bodies} == {rid}
    assert dl.stats().retries == 3 and dl.stats().sent == 1
    dl.close()


def test_an_invalid_event_is_dropped_and_the_rest_resent() -> None:
    details = {"error": {"message": "events[1].confidence: bad", "details": [{"index": 1}]}}
    server = Server([(422, details)])
    dl = client(server, batch_size=10)
    for i in range(3):
        dl.log(model="m", prompt=f"p{i}", output="o")
    assert dl.flush(5)
    assert [len(b["events"]) for b in server.bodies] == [3, 2]
    assert dl.stats().rejected == 1 and dl.stats().sent == 2
    dl.close()


def test_memory_is_bounded_and_nothing_raises_into_the_host() -> None:
    server = Server([503] * 1000)
    dl = client(server, max_queue=10)
    start = time.perf_counter()
    for i in range(50):
        assert dl.log(model="m", prompt=f"p{i}", output="o") is not None
    assert time.perf_counter() - start < 1.0  # log() never waits on the network
    assert dl.stats().dropped >= 35
    dl.log(model="m", prompt="p", output="o", metadata={"x": object()})  # cannot be JSON
    dl.close(timeout=0.2)


def test_spool_survives_an_outage_and_a_restart(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    down = Server([httpx.ConnectError("down")] * 1000)
    dl = client(down, max_queue=5, spool_path=str(spool))
    ids = [dl.log(model="m", prompt=f"p{i}", output="o") for i in range(12)]
    dl.feedback(ids[0], model="m", label="x")
    dl.close(timeout=0.3)
    assert spool.exists() and dl.stats().dropped == 0
    up = Server()
    again = client(up, spool_path=str(spool))
    assert again.flush(5)
    sent = {e["request_id"] for b in up.bodies for e in b.get("events", [])}
    in_flight_lost = set(ids) - sent
    assert len(in_flight_lost) <= 1  # at most the batch that was on the wire at close
    assert any("feedback" in b for b in up.bodies) and not spool.exists()
    again.close()


def test_async_variant() -> None:
    server = Server([503])

    async def main() -> None:
        dl = AsyncDriftline("http://dl", "k", transport=httpx.MockTransport(server),
                            flush_interval=0.05, max_backoff=0.05)  # fmt: skip
        rid = dl.log(model="m", prompt="p", output="o")
        dl.feedback(rid, model="m", score=0.5)
        assert await dl.flush(5)
        await dl.aclose()
        assert dl.stats().sent == 2 and dl.stats().retries == 1

    asyncio.run(main())
    assert [list(b) for b in server.bodies] == [["events"], ["events"], ["feedback"]]


def test_both_clients_wait_as_long_as_retry_after_asks(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def busy() -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "2"}, json={"error": {"message": "db"}})

    waits: List[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        waits.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)

    async def main() -> None:
        dl = AsyncDriftline("http://dl", "k", transport=httpx.MockTransport(Server([busy()])),
                            flush_interval=0.05, max_backoff=30)  # fmt: skip
        dl.log(model="m", prompt="p", output="o")
        assert await dl.flush(5)
        await dl.aclose()

    asyncio.run(main())
    assert 2 in waits  # the backoff alone would have been 0.25-0.5 s

    server = Server([busy()])
    dl = Driftline("http://dl", "k", transport=httpx.MockTransport(server), flush_interval=0.05,
                   max_backoff=30)  # fmt: skip
    dl.log(model="m", prompt="p", output="o")
    started = time.monotonic()
    assert dl.flush(10)
    dl.close()
    assert time.monotonic() - started >= 2  # flush() did not cut the server's wait short
    assert len(server.bodies) == 2 and dl.stats().sent == 1
