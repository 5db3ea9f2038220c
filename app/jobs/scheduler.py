"""The worker's schedule (APScheduler): its lanes, and each step failing alone."""

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine

from app.config import Settings
from app.db.replica import PRIMARY_ONLY, ReadReplica
from app.db.session import make_read_engine
from app.jobs.health import (
    REPORTS,
    RUNS,
    STEP_ERRORS,
    TICK_SECONDS,
    WINDOW_READS,
    beat,
    record_compute_threads,
)
from app.jobs.retention import apply_retention

log = logging.getLogger("driftline.worker")

T = TypeVar("T")

# Set when the process is asked to stop (SIGTERM, Ctrl-C): a tick in flight finishes the
# window it holds and starts nothing new, so no claimed run is left to wait out its lease.
STOPPING = threading.Event()


def _step(name: str, fn: Callable[[], T]) -> T | None:
    """Run one step of a tick and return what it returned; an error is logged (None) and the
    tick goes on to the next step. Once the process is stopping, steps not yet begun are
    skipped."""
    if STOPPING.is_set():
        return None
    beat()
    try:
        return fn()
    except Exception:
        STEP_ERRORS.labels(name).inc()
        log.exception("worker step %s failed; the other steps go on", name)
        return None


# The worker's steady work, in the order one tick does it. One job (not one per step) so
# that a window is never computed before the events in it are featurised; each step fails
# alone, so a broken step (a query timing out, say) never stops the others.
def worker_tick(engine: Engine, settings: Settings, replica: ReadReplica = PRIMARY_ONLY) -> None:
    """Keep daily partitions ready, featurise new events, re-queue windows with late labels,
    plan and compute due windows (reading their events from ``replica`` once it caught up).

    A pass computes at most ``RUNS_PER_TICK`` windows and due reports together, so that new
    events are featurised and new windows planned between them; when it used all those
    turns, more are likely due and the next pass starts at once. Waiting for the next
    interval instead left a busy worker idle half an interval on average every 20 windows (a
    quarter of its time in a fleet of 2,000 one-minute monitors, with the 1 s poll the fleet
    bench uses)."""
    while True:
        with TICK_SECONDS.labels("worker").time():
            more_due = _worker_steps(engine, settings, replica)
        if not more_due or STOPPING.is_set():
            break
    # After the steps: computing windows is what loads the numeric libraries.
    _step("threads", record_compute_threads)


def _worker_steps(engine: Engine, settings: Settings, replica: ReadReplica) -> bool:
    """One pass of the steps; whether more windows or reports are likely due (it handled as
    many as a pass may)."""
    from app.db.partitions import ensure_day_partitions
    from app.jobs.featurise import featurise_pending
    from app.monitoring.runs import plan_due_windows, requeue_late_labels
    from app.monitoring.worker import RUNS_PER_TICK, run_pending

    _step("partitions", lambda: ensure_day_partitions(engine))
    _step("featurise", lambda: featurise_pending(engine))
    _step("late labels", lambda: requeue_late_labels(engine))
    _step("plan", lambda: plan_due_windows(engine, max_pending=settings.max_pending_runs))
    # Windows and reports share a pass's turns: one that used them all likely left more due
    # (a report backlog too, which drained a pass per poll interval when only windows counted).
    turns = 0

    def window_done(outcome: str) -> None:
        nonlocal turns
        turns += 1
        RUNS.labels(outcome).inc()
        beat()

    def report_done() -> None:
        nonlocal turns
        turns += 1
        REPORTS.inc()
        beat()

    _step(
        "compute",
        lambda: run_pending(
            engine,
            max_runs=RUNS_PER_TICK,
            lease_seconds=settings.run_lease_seconds,
            sample_cap=settings.window_sample_cap,
            reports=settings.window_reports,
            replica=replica,
            on_read=lambda source: WINDOW_READS.labels(source).inc(),
            stop=STOPPING,
            on_outcome=window_done,
            on_report=report_done,
        ),
    )
    return turns >= RUNS_PER_TICK


# Baselines are profiled in their own lane: a big upload takes minutes and must not hold up
# anybody's windows.
def profile_tick(engine: Engine, settings: Settings) -> None:
    """Freeze and profile pending baselines."""
    from app.baselines.profiles import build_pending_profiles

    with TICK_SECONDS.labels("profiles").time():
        _step(
            "profiles",
            lambda: build_pending_profiles(engine, profile_cap=settings.baseline_profile_cap),
        )


def _not_an_overrun(record: logging.LogRecord) -> bool:
    # A tick that outlasts the poll interval (a window takes seconds to compute) just makes
    # the next tick start late; APScheduler would log a warning for every skipped interval.
    return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_not_an_overrun)


def build_scheduler(engine: Engine, settings: Settings, *, blocking: bool) -> BaseScheduler:
    """A scheduler with every job the settings enable; each job is its own lane (thread).

    ``blocking`` for ``driftline worker`` (the process is the scheduler); background for
    ``driftline up``, where the API server owns the main thread.
    """
    scheduler: BaseScheduler = BlockingScheduler() if blocking else BackgroundScheduler()
    # Windows may be read off a replica (the primary's engine when none is configured, which
    # caught_up reads directly).
    replica = ReadReplica(make_read_engine(settings, engine), settings.replica_wait_seconds)
    lanes: list[tuple[str, Callable[..., None], dict[str, object]]] = [
        ("worker_tick", worker_tick, {"replica": replica}),
        ("profile_tick", profile_tick, {}),
    ]
    for job_id, job, extra in lanes:
        scheduler.add_job(
            job,
            "interval",
            seconds=settings.worker_poll_seconds,
            kwargs={"engine": engine, "settings": settings, **extra},
            id=job_id,
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC),
        )
    if settings.retention_days:
        scheduler.add_job(
            apply_retention,
            "interval",
            hours=1,
            kwargs={"engine": engine, "days": settings.retention_days},
            id="retention",
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC),
        )
        log.info("retention: events older than %d days are deleted hourly", settings.retention_days)
    return scheduler


def stop_gracefully(scheduler: BaseScheduler) -> None:
    """Stop the schedule: no new tick or window starts, the window being computed is
    finished and stored, then the scheduler's threads end (bounded by one window's time)."""
    STOPPING.set()
    if scheduler.running:
        scheduler.shutdown(wait=True)
