"""Soak: a steady loopback load on a real api with a real worker computing windows.

Starts ``driftline api`` and ``driftline worker`` on a throwaway database, registers a baseline
of health-news tweets and a monitor with short windows, then sends batches of real tweets at a
steady rate for the whole run while sampling both processes' memory (RSS) every few seconds.
At the end it checks that every acknowledged event is stored exactly once and reports:

    requests sent / acked / errors, events acked / stored / lost, windows computed / failed,
    api and worker RSS after warm-up and at the end (growth = end minus after warm-up).

Last line: ``soak_seconds=… soak_rate_ratio=<achieved/target> lost=… errors=…
api_rss_growth_mb=… worker_rss_growth_mb=…``. The CI suite runs a 90-second variant
(tests/test_soak.py); the full one is 10 minutes:

    DRIFTLINE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/postgres \\
        python -m bench.soak --seconds 600
"""

import argparse
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
from sqlalchemy import create_engine, text

from app.auth.keys import create_key
from app.datasets import health_tweets
from app.db.session import make_sessionmaker, session_scope
from tests.pg import scratch_database
from tests.processes import driftline_api, driftline_cli, driftline_env

MODEL = "soak-bot"


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB (Linux /proc)."""
    total_kb = 0
    pending = [pid]
    while pending:
        p = pending.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total_kb += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            for task in Path(f"/proc/{p}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total_kb / 1024


@dataclass
class SoakResult:
    """What a soak run measured."""

    seconds: float
    target_rate: float
    requests_sent: int = 0
    requests_acked: int = 0
    errors: list[str] = field(default_factory=list)
    events_acked: int = 0
    events_stored: int = 0
    windows_computed: int = 0
    windows_failed: int = 0
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        """Acknowledged events missing from the table (must be 0)."""
        return self.events_acked - min(self.events_stored, self.events_acked)

    def growth_mb(self, process: str, warmup: float) -> float:
        """RSS at the end minus the highest RSS seen during the warm-up."""
        samples = self.rss[process]
        settled = max((mb for t, mb in samples if t <= warmup), default=samples[0][1])
        return samples[-1][1] - settled

    def summary(self, warmup: float) -> str:
        """The figures, one per line, then the machine-readable last line."""
        rate = self.events_acked / self.seconds
        lines = [
            f"duration {self.seconds:.0f} s at a target of {self.target_rate:.0f} events/s "
            f"(achieved {rate:.0f}/s)",
            f"requests: sent {self.requests_sent}, acked {self.requests_acked}, "
            f"errors {len(self.errors)}",
            f"events: acked {self.events_acked}, stored {self.events_stored}, lost {self.lost}",
            f"windows: computed {self.windows_computed}, failed {self.windows_failed}",
        ]
        for name, samples in self.rss.items():
            lines.append(
                f"{name} RSS MiB: start {samples[0][1]:.0f}, after warm-up "
                f"{samples[-1][1] - self.growth_mb(name, warmup):.0f}, end {samples[-1][1]:.0f}, "
                f"peak {max(mb for _, mb in samples):.0f}"
            )
        lines.append(
            f"soak_seconds={self.seconds:.0f} soak_rate_ratio={rate / self.target_rate:.3f} "
            f"lost={self.lost} errors={len(self.errors)} "
            f"api_rss_growth_mb={self.growth_mb('api', warmup):.1f} "
            f"worker_rss_growth_mb={self.growth_mb('worker', warmup):.1f}"
        )
        return "\n".join(lines)


def run_soak(
    url: str,
    *,
    seconds: float,
    rate: float = 200,
    window_seconds: int = 30,
    sample_every: float = 5.0,
    say: Any = print,
) -> SoakResult:
    """Soak a migrated, empty database at ``url``; see the module docstring."""
    engine = create_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        _, key = create_key(session, name="soak", scopes=["admin"])
    tweets = health_tweets(without_urls=True)["text"].tolist()
    env = driftline_env(url, worker_poll_seconds="2")
    result = SoakResult(seconds=seconds, target_rate=rate)
    headers = {"Authorization": f"Bearer {key}"}
    with ExitStack() as stack:
        base, api = stack.enter_context(driftline_api(env, "--workers", "1"))
        worker = stack.enter_context(driftline_cli("worker", env=env))
        client = stack.enter_context(httpx.Client(base_url=base, headers=headers, timeout=30))
        records = [{"prompt": t, "output": "health news"} for t in tweets[:1000]]
        baseline = client.post(
            "/v1/baselines", json={"model": MODEL, "name": "holdout", "records": records}
        ).json()
        while client.get(f"/v1/baselines/{baseline['id']}").json()["status"] == "pending":
            assert worker.poll() is None, "the worker died while profiling the baseline"
            time.sleep(1)
        start_at = datetime.now(UTC).replace(microsecond=0)
        client.post(
            "/v1/monitors",
            json={"name": "soak", "model": MODEL, "baseline_id": baseline["id"],
                  "window": f"{window_seconds}s", "delay": "3s", "min_events": 20,
                  "start_at": start_at.isoformat()},
        ).raise_for_status()  # fmt: skip

        pids = {"api": api.pid, "worker": worker.pid}
        result.rss = {name: [] for name in pids}
        stop = threading.Event()
        began = time.monotonic()

        def sample() -> None:
            while not stop.is_set():
                for name, pid in pids.items():
                    result.rss[name].append((time.monotonic() - began, tree_rss_mb(pid)))
                stop.wait(sample_every)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # Ten batches a second at a steady pace; a slow answer delays the next batch, never
        # piles requests up.
        per_batch = max(1, round(rate / 10))
        n = 0
        next_at = began
        last_report = began
        while time.monotonic() - began < seconds:
            batch = [
                {"model": MODEL, "request_id": uuid.uuid4().hex,
                 "prompt": tweets[(n + i) % len(tweets)], "output": "health news",
                 "latency_ms": 120.0}
                for i in range(per_batch)
            ]  # fmt: skip
            n += per_batch
            result.requests_sent += 1
            try:
                r = client.post("/v1/events", json={"events": batch})
                if r.status_code == 202:
                    result.requests_acked += 1
                    result.events_acked += r.json()["accepted"]
                else:
                    result.errors.append(f"{r.status_code} {r.text[:200]}")
            except httpx.TransportError as exc:
                result.errors.append(repr(exc))
            assert api.poll() is None and worker.poll() is None, "a process died mid-soak"
            if time.monotonic() - last_report >= 60:
                last_report = time.monotonic()
                say(f"  {last_report - began:.0f} s: {result.events_acked} events acked, "
                    f"{len(result.errors)} errors")  # fmt: skip
            next_at += 0.1
            time.sleep(max(0.0, next_at - time.monotonic()))
        result.seconds = time.monotonic() - began
        # Let the worker compute the windows that closed during the run, then stop sampling.
        closed = int(result.seconds // window_seconds)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                finished = conn.execute(
                    text("SELECT count(*) FROM monitor_runs WHERE status <> 'running' "
                         "AND status <> 'pending'")
                ).scalar_one()  # fmt: skip
            if finished >= closed:
                break
            time.sleep(2)
        stop.set()
        sampler.join()

    with engine.connect() as conn:
        result.events_stored = conn.execute(
            text("SELECT count(DISTINCT request_id) FROM events WHERE model = :m"), {"m": MODEL}
        ).scalar_one()
        stored_rows = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        assert stored_rows == result.events_stored, "an event was stored twice"
        counts: dict[str, int] = dict(
            conn.execute(text("SELECT status, count(*) FROM monitor_runs GROUP BY status")).all()
        )
    engine.dispose()
    result.windows_computed = int(counts.get("done", 0))
    result.windows_failed = int(counts.get("failed", 0))
    return result


def main() -> None:
    """Run the soak on a throwaway database and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600, help="length of the load")
    parser.add_argument("--rate", type=float, default=200, help="events per second")
    parser.add_argument("--window", type=int, default=60, help="monitor window, seconds")
    args = parser.parse_args()
    with scratch_database("driftline_soak") as url:
        result = run_soak(url, seconds=args.seconds, rate=args.rate, window_seconds=args.window)
    print(result.summary(warmup=args.seconds / 3))


if __name__ == "__main__":
    main()
