"""Ingest benchmark: HTTP ingestion vs the machine's own ceiling (raw COPY), in one run.

Starts a real server (uvicorn, one worker) on a throwaway database and measures
  (a) raw psycopg COPY of the same event rows into the events table (the ceiling),
  (b) HTTP batches of 500 events from a few concurrent senders,
  (c) single-event POSTs from 32 concurrent clients.
Last line: ``ingest_batch_ratio=<b/a> ingest_single_ratio=<c/a>``.

    DRIFTLINE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres python -m bench.ingest
(without the variable an embedded PostgreSQL is started for the run). The single-event load
comes from ``wrk`` when it is installed (a Python client on these 2 cores measures itself more
than the server); otherwise from an httpx client.
"""

import argparse
import asyncio
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from app.db.migrate import upgrade
from app.db.session import make_sessionmaker, session_scope
from app.security import create_key
from tests.pg import PrivatePostgres, configured_server_url, throwaway_database

_TEXT = (
    "account password reset billing invoice refund shipping order delay broken screen "
    "battery charge login error update install subscription cancel upgrade plan price "
    "the a to and of in is for my it how can I do not why when what please help"
)
WORDS = _TEXT.split()


def make_events(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Events of realistic size: ~40-word prompts, ~60-word outputs, a little metadata."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        events.append(
            {
                "model": "bench-bot",
                "model_version": "v1",
                "request_id": f"bench-{seed}-{i}",
                "prompt": " ".join(rng.choices(WORDS, k=40)),
                "output": " ".join(rng.choices(WORDS, k=60)),
                "prediction": rng.choice(["billing", "account", "shipping", "tech"]),
                "confidence": round(rng.random(), 3),
                "latency_ms": round(rng.uniform(50, 900), 1),
                "prompt_tokens": 52,
                "completion_tokens": 78,
                "perplexity": round(rng.uniform(1.5, 9.0), 3),
                "finish_reason": "stop",
                "metadata": {"tenant": f"t{rng.randint(1, 20)}", "channel": "web"},
            }
        )
    return events


COPY_COLUMNS = (
    "model, model_version, request_id, ts, prompt, output, prediction, confidence, latency_ms, "
    "prompt_tokens, completion_tokens, perplexity, finish_reason, metadata"
)


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def truncate(url: str) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("TRUNCATE events, models")


def count(url: str) -> int:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None
        return int(row[0])


def bench_copy(url: str, events: list[dict[str, Any]]) -> float:
    """(a) The ceiling: COPY the same rows in chunks of 500, one transaction per chunk."""
    truncate(url)
    now = datetime.now(UTC)
    start = time.perf_counter()
    with psycopg.connect(libpq(url)) as conn:
        for i in range(0, len(events), 500):
            with conn.cursor() as cur, cur.copy(f"COPY events ({COPY_COLUMNS}) FROM STDIN") as cp:
                for e in events[i : i + 500]:
                    cp.write_row(
                        (
                            e["model"], e["model_version"], e["request_id"], now,
                            e["prompt"], e["output"], e["prediction"], e["confidence"],
                            e["latency_ms"], e["prompt_tokens"], e["completion_tokens"],
                            e["perplexity"], e["finish_reason"],
                            orjson.dumps(e["metadata"]).decode(),
                        )
                    )  # fmt: skip
            conn.commit()
    elapsed = time.perf_counter() - start
    assert count(url) == len(events)
    return len(events) / elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(url: str) -> Iterator[str]:
    """``driftline api`` with one uvicorn worker, ready to serve."""
    port = free_port()
    env = {**os.environ, "DRIFTLINE_DATABASE_URL": url, "DRIFTLINE_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--port", str(port), "--workers", "1"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not become ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def bench_batches(
    base: str, url: str, key: str, events: list[dict[str, Any]], senders: int
) -> float:
    """(b) HTTP batches of 500 from ``senders`` concurrent clients."""
    truncate(url)
    batches = [events[i : i + 500] for i in range(0, len(events), 500)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [orjson.dumps({"events": b}) for b in batches]

    def send(chunk: list[bytes]) -> int:
        accepted = 0
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for body in chunk:
                r = client.post("/v1/events", content=body)
                r.raise_for_status()
                accepted += r.json()["accepted"]
        return accepted

    chunks = [bodies[i::senders] for i in range(senders)]
    start = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        accepted = sum(pool.map(send, chunks))
    elapsed = time.perf_counter() - start
    assert accepted == len(events) == count(url)
    return len(events) / elapsed


def bench_singles(
    base: str, url: str, key: str, events: list[dict[str, Any]], clients: int
) -> float:
    """(c) One event per POST from ``clients`` concurrent clients."""
    truncate(url)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [orjson.dumps(e) for e in events]

    async def run() -> int:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=60, limits=limits
        ) as client:
            queue = iter(bodies)
            accepted = 0

            async def worker() -> None:
                nonlocal accepted
                for body in queue:
                    r = await client.post("/v1/events", content=body)
                    r.raise_for_status()
                    accepted += r.json()["accepted"]

            await asyncio.gather(*(worker() for _ in range(clients)))
            return accepted

    start = time.perf_counter()
    accepted = asyncio.run(run())
    elapsed = time.perf_counter() - start
    assert accepted == len(events) == count(url)
    return len(events) / elapsed


WRK_SCRIPT = """
-- setup() runs in the main state; thread:set makes `tid` a global of each thread's own state.
local started = 0
local counter = 0
function setup(thread) started = started + 1; thread:set("tid", started) end
request = function()
  counter = counter + 1
  local body = string.format(BODY, tid .. "-" .. counter)
  return wrk.format("POST", "/v1/events", HEADERS, body)
end
"""


def bench_singles_wrk(
    base: str, url: str, key: str, event: dict[str, Any], clients: int, seconds: int
) -> float:
    """(c) with wrk: ``clients`` connections posting one event each for ``seconds``."""
    truncate(url)
    template = orjson.dumps({**event, "request_id": "@@ID@@"}).decode().replace("%", "%%")
    lua = WRK_SCRIPT.replace("BODY", "[==[" + template.replace("@@ID@@", "%s") + "]==]").replace(
        "HEADERS",
        '{["Content-Type"]="application/json", ["Authorization"]="Bearer ' + key + '"}',
    )
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(lua)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "-s", str(script), base],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    completed = int(out.split(" requests in ")[0].split()[-1])
    stored = count(url)
    # Every request is a new event. wrk does not count the <= `clients` requests still in
    # flight when it stops, though the server finishes and stores them.
    if "Non-2xx" in out or not completed <= stored <= completed + clients:
        raise RuntimeError(f"wrk completed {completed}, stored {stored}:\n{out}")
    return stored / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events for (a) and (b)")
    parser.add_argument("--singles", type=int, default=4_000, help="events for (c)")
    parser.add_argument("--senders", type=int, default=4, help="concurrent batch senders")
    parser.add_argument("--clients", type=int, default=32, help="concurrent single clients")
    parser.add_argument("--seconds", type=int, default=10, help="duration of (c) under wrk")
    args = parser.parse_args()

    private = None
    server_url = configured_server_url()
    if server_url is None:
        private = PrivatePostgres()
        server_url = private.url("postgres")
    try:
        with throwaway_database(server_url, prefix="driftline_bench") as url:
            upgrade(url)
            engine = create_engine(url)
            with session_scope(make_sessionmaker(engine)) as session:
                _, key = create_key(session, name="bench", scopes=["ingest"])
            engine.dispose()
            events = make_events(args.events)
            machine = f"{platform.machine()} {os.cpu_count()} cores"
            print(f"machine: {machine}, python {platform.python_version()}", flush=True)
            copy_rate = bench_copy(url, events)
            print(f"(a) raw COPY:              {copy_rate:10.0f} events/s", flush=True)
            with server(url) as base:
                bench_batches(base, url, key, events[:1000], args.senders)  # warm-up
                batch_rate = bench_batches(base, url, key, events, args.senders)
                print(f"(b) HTTP batches of 500:   {batch_rate:10.0f} events/s "
                      f"({args.senders} senders)", flush=True)  # fmt: skip
                if shutil.which("wrk"):
                    how = "wrk"
                    single_rate = bench_singles_wrk(
                        base, url, key, events[0], args.clients, args.seconds
                    )
                else:
                    how = "httpx"
                    single_rate = bench_singles(
                        base, url, key, events[: args.singles], args.clients
                    )
                print(f"(c) HTTP single events:    {single_rate:10.0f} events/s "
                      f"({args.clients} {how} clients)", flush=True)  # fmt: skip
    finally:
        if private is not None:
            private.close()
    print(
        f"ingest_batch_ratio={batch_rate / copy_rate:.3f} "
        f"ingest_single_ratio={single_rate / copy_rate:.3f}"
    )


if __name__ == "__main__":
    main()
