"""Ingest benchmark: HTTP ingestion vs the machine's own ceilings, measured in the same run.

Starts a real server (uvicorn, one worker unless ``--workers``) on a throwaway database and
measures, in ``--rounds`` rounds one after the other,
  (a) raw psycopg COPY of the same event rows into the events table (without their keys)
      for as long as each HTTP phase (the batch ceiling),
  (b) HTTP batches of 500 events from a few concurrent senders,
  (c) single-event POSTs from 32 concurrent clients,
  (d) the same single-event POSTs to a bare orjson echo route served the same way
      (``bench/echo.py``: the single-request ceiling of this HTTP stack).
Last line: ``ingest_batch_ratio=<b/a> ingest_single_ratio=<c/d>``, each the median of the
rounds' ratios: each round's phases see the machine at the same minute (one run's raw COPY
moved 39,000-77,000 events/s between minutes on this shared machine).

    DRIFTLINE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres python -m bench.ingest
(without the variable an embedded PostgreSQL is started for the run). The HTTP load
comes from ``wrk`` (``apt-get install wrk``).
"""

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy.engine import make_url

from tests.pg import key_at, scratch_database
from tests.processes import driftline_api, driftline_env, free_port, wait_for

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
        conn.execute("TRUNCATE events, event_keys, event_features, models")


def count(url: str) -> int:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None
        return int(row[0])


def bench_copy(url: str, events: list[dict[str, Any]], seconds: float) -> float:
    """(a) The ceiling: COPY the same rows in chunks of 500, one transaction per chunk, for
    ``seconds`` — as long as each HTTP phase, so that both see the same table growth,
    checkpoints and autovacuum (20,000 rows took 0.2 s and varied 77-109k/s run to run).
    The events alone: their keys' trigger is off for this phase (as the ceiling has always
    been measured; storing the keys is the ingest path's own cost)."""
    truncate(url)
    now = datetime.now(UTC)
    stored = 0
    with psycopg.connect(libpq(url)) as conn, _keys_trigger_off(conn):
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            i = stored % len(events)
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
            stored += len(events[i : i + 500])
    elapsed = time.perf_counter() - start
    assert count(url) == stored
    return stored / elapsed


@contextmanager
def _keys_trigger_off(conn: psycopg.Connection[Any]) -> Iterator[None]:
    conn.execute("ALTER TABLE events DISABLE TRIGGER events_store_keys")
    conn.commit()
    try:
        yield
    finally:
        conn.execute("ALTER TABLE events ENABLE TRIGGER events_store_keys")
        conn.commit()


@contextmanager
def server(url: str, workers: int = 1) -> Iterator[str]:
    """``driftline api`` with ``workers`` uvicorn workers, ready to serve."""
    with driftline_api(driftline_env(url), "--workers", str(workers)) as (base, _):
        yield base


@contextmanager
def echo_server(url: str) -> Iterator[str]:
    """``bench/echo.py``: a bare orjson echo route, served as ``driftline api`` serves."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.echo", "--port", str(port)], env=driftline_env(url),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/readyz", proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def echo_per_second(base: str, event: dict[str, Any], *, connections: int, seconds: int) -> float:
    """(d) Requests/s the echo route answers for the same single-event body."""
    body = orjson.dumps({**event, "request_id": "@@ID@@"}).decode()
    headers = '{["Content-Type"]="application/json"}'
    lua = WRK_SCRIPT.replace("BODY", "[==[" + body + "]==]").replace("HEADERS", headers)
    script = Path(tempfile.mkdtemp()) / "echo.lua"
    script.write_text(lua)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), base],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out:
        raise RuntimeError(out)
    return float(out.split("Requests/sec:")[1].split()[0])


WRK_SCRIPT = """
-- setup() runs in the main state; thread:set makes `tid` a global of each thread's own state.
local started = 0
local sent = 0
function setup(thread) started = started + 1; thread:set("tid", started) end
-- The body split once at each @@ID@@; a request joins the pieces around fresh ids. (A gsub
-- over the whole body per request cost wrk ~30 % of a core for batches of 500, taken from
-- the server it measures on these 2 cores.)
local parts = {}
local from = 1
while true do
  local s, e = string.find(BODY, "@@ID@@", from, true)
  if not s then parts[#parts + 1] = string.sub(BODY, from); break end
  parts[#parts + 1] = string.sub(BODY, from, s - 1)
  from = e + 1
end
request = function()
  sent = sent + 1
  local out = {}
  for i = 1, #parts - 1 do
    out[2 * i - 1] = parts[i]
    out[2 * i] = tid .. "-" .. sent .. "-" .. i
  end
  out[2 * #parts - 1] = parts[#parts]
  return wrk.format("POST", "/v1/events", HEADERS, table.concat(out))
end
"""


def bench_http(
    base: str,
    url: str,
    key: str,
    events: list[dict[str, Any]],
    *,
    connections: int,
    seconds: int,
    fresh: bool = True,
) -> float:
    """Events/s stored when ``connections`` wrk clients each POST ``events`` in a loop.

    One event is posted bare, several as ``{"events": [...]}``; each request gets fresh
    request_ids, so every event is new. wrk (C, event loop) is the load generator because a
    Python client on these 2 cores would measure itself more than the server.
    """
    # A prefix per run: runs on top of stored events (--preload) never repeat an id.
    run = os.urandom(4).hex()
    items = [{**e, "request_id": f"{run}-@@ID@@"} for e in events]
    payload = items[0] if len(items) == 1 else {"events": items}
    body = orjson.dumps(payload).decode()
    headers = '{["Content-Type"]="application/json", ["Authorization"]="Bearer ' + key + '"}'
    lua = WRK_SCRIPT.replace("BODY", "[==[" + body + "]==]").replace("HEADERS", headers)
    return stored_per_second(base, url, lua, len(events), connections=connections,
                             seconds=seconds, fresh=fresh)  # fmt: skip


def stored_per_second(
    base: str, url: str, lua: str, per_request: int, *, connections: int, seconds: int,
    fresh: bool = True,
) -> float:  # fmt: skip
    """Rows stored per second while ``connections`` wrk clients run ``lua`` (each request
    storing ``per_request`` new rows) against ``base`` for ``seconds``; checks that exactly
    the acknowledged rows were stored. ``fresh``: into an emptied table (else on top of
    what is stored)."""
    if fresh:
        truncate(url)
    before = count(url)
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(lua)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
         "-s", str(script), base],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    completed = int(out.split(" requests in ")[0].split()[-1])
    # Requests in flight when wrk stops still commit; wait for them, or they would land
    # after the next phase's TRUNCATE and be counted there.
    stored = count(url)
    while True:
        time.sleep(0.5)
        settled = count(url)
        if settled == stored:
            break
        stored = settled
    stored -= before
    # wrk does not count the requests still in flight when it stops (at most one per
    # connection), though the server finishes and stores them.
    per = per_request
    if "Non-2xx" in out or not completed * per <= stored <= (completed + connections) * per:
        raise RuntimeError(f"wrk completed {completed} requests, stored {stored} rows:\n{out}")
    return stored / seconds


def preload(url: str, n: int, per_day: int = 1_000_000) -> None:
    """``n`` events (with their keys) spread over the past days, in those days' partitions
    (generated in PostgreSQL: ~300-character prompts, ~400-character outputs), analysed."""
    from app.config import Settings
    from app.db.partitions import ensure_day_partitions
    from app.db.session import make_engine

    days = -(-n // per_day)
    engine = make_engine(url, Settings(database_url=url))
    ensure_day_partitions(engine, days_back=days, days_ahead=3)
    engine.dispose()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for day in range(days):
            lo, hi = day * per_day, min(n, (day + 1) * per_day)
            ts = f"now() - interval '{day + 1} days' + (g %% 86000) * interval '1 second'"
            conn.execute(  # the keys with them (the insert's trigger)
                "INSERT INTO events (model, model_version, request_id, ts, prompt, output, "
                "prediction, confidence, metadata) "
                f"SELECT 'bench-bot', 'v1', 'pre-' || g, {ts}, repeat(md5(g::text), 9), "
                "repeat(md5((g + 1)::text), 12), 'billing', 0.5, '{\"tenant\": \"t1\"}' "
                "FROM generate_series(%s, %s - 1) g",
                (lo, hi),
            )
            print(f"preloaded {hi:,} events", flush=True)
        conn.execute("ANALYZE events")
        conn.execute("ANALYZE event_keys")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=20_000, help="distinct events (a) cycles through"
    )
    parser.add_argument("--senders", type=int, default=4, help="concurrent batch senders")
    parser.add_argument("--clients", type=int, default=32, help="concurrent single clients")
    parser.add_argument("--seconds", type=int, default=6, help="duration of each phase")
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="rounds of (a)-(d), one after the other: each ratio is the median of its rounds' "
        "(the machine's speed drifts between minutes more than the code's differences)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the api")
    parser.add_argument(
        "--preload", type=int, default=0,
        help="events stored before (b) and (c), which then add to them (growth); (a) is "
        "measured on the empty table, every round's before the preload",
    )  # fmt: skip
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/ingest.py needs wrk: apt-get install wrk")

    batch_ratios, single_ratios = [], []
    with scratch_database("driftline_bench") as url:
        key = key_at(url, "ingest", name="bench")
        events = make_events(args.events)
        machine = f"{platform.machine()} {os.cpu_count()} cores"
        print(f"machine: {machine}, python {platform.python_version()}", flush=True)
        fresh = not args.preload
        copy_rates = []
        if args.preload:  # (a) on the empty table, before the preload that (a) would empty
            copy_rates = [bench_copy(url, events, args.seconds) for _ in range(args.rounds)]
            truncate(url)
            preload(url, args.preload)
        with server(url, args.workers) as base, echo_server(url) as echo:

            def http(n: int, connections: int, seconds: int) -> float:
                return bench_http(base, url, key, events[:n], connections=connections,
                                  seconds=seconds, fresh=fresh)  # fmt: skip

            http(500, args.senders, 2)  # warm-up
            echo_per_second(echo, events[0], connections=args.clients, seconds=2)
            for round_ in range(1, args.rounds + 1):
                copy_rate = (
                    bench_copy(url, events, args.seconds) if fresh else copy_rates[round_ - 1]
                )
                batch_rate = http(500, args.senders, args.seconds)
                single_rate = http(1, args.clients, args.seconds)
                echo_rate = echo_per_second(
                    echo, events[0], connections=args.clients, seconds=args.seconds
                )
                batch_ratios.append(batch_rate / copy_rate)
                single_ratios.append(single_rate / echo_rate)
                print(
                    f"round {round_}: (a) raw COPY {copy_rate:8.0f} events/s, (b) batches of 500 "
                    f"{batch_rate:8.0f} events/s ({args.senders} wrk connections), (c) single "
                    f"events {single_rate:7.0f} events/s ({args.clients} connections, "
                    f"{args.workers} api worker(s)), (d) bare orjson echo {echo_rate:7.0f} "
                    f"requests/s: (b)/(a) {batch_ratios[-1]:.3f}, (c)/(d) {single_ratios[-1]:.3f}",
                    flush=True,
                )
    print(
        f"ingest_batch_ratio={statistics.median(batch_ratios):.3f} "
        f"ingest_single_ratio={statistics.median(single_ratios):.3f}"
    )


if __name__ == "__main__":
    main()
