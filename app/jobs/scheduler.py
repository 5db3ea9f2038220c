"""The worker's schedule (APScheduler). Jobs are added here as they are built."""

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine

from app.config import Settings
from app.jobs.retention import apply_retention

log = logging.getLogger("driftline.worker")


def build_scheduler(engine: Engine, settings: Settings, *, blocking: bool) -> BaseScheduler:
    """A scheduler with every job the settings enable.

    ``blocking`` for ``driftline worker`` (the process is the scheduler); background for
    ``driftline up``, where the API server owns the main thread.
    """
    scheduler: BaseScheduler = BlockingScheduler() if blocking else BackgroundScheduler()
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
