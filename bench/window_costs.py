"""Where a small window's time goes: the fleet's windows computed in this process.

``bench/fleet.py`` measures real worker processes, whose rates move by up to 25 % between
runs on a shared machine; comparing two versions of the per-window code needs less noise.
This seeds ``--monitors`` of the fleet's one-minute monitors (the same baseline, the same 30
calm events a window), then computes every monitor's window ``--rounds`` times with the
worker's own ``run_pending`` in this process (one BLAS/OpenMP thread, as the worker), after
one untimed round. Per round it prints the wall time per window, this process's CPU per
window, and PostgreSQL's CPU per window (every ``postgres`` process on this machine, read
from /proc: only meaningful when the server is local and otherwise idle); then each step's
mean from the runs' stored ``timings``.

    python -m bench.window_costs                          # 150 monitors, 3 rounds
    python -m bench.window_costs --profile /tmp/w.prof    # and a cProfile of the rounds

Two versions side by side: run it from each checkout in turn (``PYTHONPATH=<checkout>``
when the script is started from elsewhere), alternating, twice each.
Last line: ``window_ms=… window_worker_cpu_ms=… window_pg_cpu_ms=… window_pg_share=…``
(PostgreSQL's share of the CPU a window costs both).
"""

import argparse
import cProfile
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from app.config import WORKER_THREAD_VARIABLES

for _variable in WORKER_THREAD_VARIABLES:  # before numpy loads, as `driftline worker` does
    os.environ[_variable] = "1"

from sqlalchemy import text  # noqa: E402

from app.monitoring.worker import run_pending  # noqa: E402
from bench.fleet import MINUTE, _add_window, _queue, seeded_fleet  # noqa: E402

MONITORS = 150
ROUNDS = 3


def postgres_cpu_seconds() -> float:
    """User + system CPU of every process named ``postgres`` on this machine (0 elsewhere)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            line = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        if line[line.index("(") + 1 : line.rindex(")")].startswith("postgres"):
            fields = line[line.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main(monitors: int, rounds: int, profile: str | None) -> None:
    """Seed, warm up, then time ``rounds`` rounds of every monitor's window."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with seeded_fleet("driftline_bench_window_costs", monitors, now) as (engine, *_):
        with engine.begin() as conn:  # the windows are queued here, not planned by a tick
            conn.execute(text("UPDATE monitors SET planned_until = :f"),
                         {"f": now + 365 * 24 * 60 * MINUTE})  # fmt: skip
        start = now - 10 * MINUTE
        _add_window(engine, monitors, start, "costs")
        print(f"seeded {monitors} monitors, one window each", flush=True)

        def one_round() -> int:
            _queue(engine, start)
            return run_pending(
                engine, lease_seconds=300, sample_cap=200_000, max_runs=monitors,
                reports="flagged",
            )  # fmt: skip

        one_round()  # imports, caches, prepared statements: what a running worker has
        profiler = cProfile.Profile() if profile else None
        wall, cpu, pg = [], [], []
        for i in range(rounds):
            t0, c0, p0 = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
            if profiler:
                profiler.enable()
            ran = one_round()
            if profiler:
                profiler.disable()
            wall.append((time.perf_counter() - t0) / ran * 1000)
            cpu.append((time.process_time() - c0) / ran * 1000)
            pg.append((postgres_cpu_seconds() - p0) / ran * 1000)
            print(f"  round {i + 1}: {wall[-1]:.1f} ms a window (this process's CPU "
                  f"{cpu[-1]:.1f} ms, PostgreSQL's {pg[-1]:.1f} ms)", flush=True)  # fmt: skip
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT timings FROM monitor_runs WHERE status = 'done'")
            ).scalars()
            steps: dict[str, list[float]] = {}
            for timings in stored:
                for step, seconds in (timings or {}).items():
                    steps.setdefault(step, []).append(seconds)
    if profiler and profile:
        profiler.dump_stats(profile)
        print(f"profile written to {profile}")
    print("mean per window, by step (the runs' stored timings):")
    for step, values in sorted(steps.items(), key=lambda kv: -statistics.fmean(kv[1])):
        print(f"  {step:20s} {statistics.fmean(values) * 1000:7.2f} ms")
    w, c, p = statistics.median(wall), statistics.median(cpu), statistics.median(pg)
    print(f"window_ms={w:.1f} window_worker_cpu_ms={c:.1f} window_pg_cpu_ms={p:.1f} "
          f"window_pg_share={p / (c + p) if c + p else 0:.2f}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitors", type=int, default=MONITORS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--profile", help="write a cProfile of the timed rounds here")
    args = parser.parse_args()
    main(args.monitors, args.rounds, args.profile)
