"""The worker's schedule (APScheduler). Jobs are added here as they are built."""

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine

from app.config import Settings
from app.jobs.retention import apply_retention


# The worker's steady work, in the order one tick does it. A single job (not one per step)
# so that a window is never computed before the events in it are featurised.
def worker_tick(engine: Engine, settings: Settings) -> None:
    """Keep daily partitions ready, featurise new events, profile new baselines, plan and
    compute due windows."""
    from app.db.partitions import ensure_day_partitions
    from app.jobs.featurise import featurise_pending
    from app.jobs.monitor_runs import plan_due_windows, requeue_late_labels, run_pending
    from app.jobs.profiles import build_pending_profiles

    ensure_day_partitions(engine)
    featurise_pending(engine)
    build_pending_profiles(engine)
    requeue_late_labels(engine)
    plan_due_windows(engine)
    run_pending(engine, lease_seconds=settings.run_lease_seconds)


log = logging.getLogger("driftline.worker")


def _not_an_overrun(record: logging.LogRecord) -> bool:
    # A tick that outlasts the poll interval (a window takes seconds to compute) just makes
    # the next tick start late; APScheduler would log a warning for every skipped interval.
    return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_not_an_overrun)


def build_scheduler(engine: Engine, settings: Settings, *, blocking: bool) -> BaseScheduler:
    """A scheduler with every job the settings enable.

    ``blocking`` for ``driftline worker`` (the process is the scheduler); background for
    ``driftline up``, where the API server owns the main thread.
    """
    scheduler: BaseScheduler = BlockingScheduler() if blocking else BackgroundScheduler()
    scheduler.add_job(
        worker_tick,
        "interval",
        seconds=settings.worker_poll_seconds,
        kwargs={"engine": engine, "settings": settings},
        id="worker_tick",
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
