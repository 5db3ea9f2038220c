"""What every part of a run's life shares: the run states as SQL values, the revision snapshot,
and the errors recorded on a monitor."""

import logging
import os
import socket

from sqlalchemy import Engine, text

from app.monitoring.results import (
    FINISHED,
    RunStatus,
)

log = logging.getLogger("driftline.runs")

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# Windows one monitor's backfill adds per tick (its live window is planned besides).
MAX_PLANNED_PER_TICK = 500

PENDING, RUNNING = RunStatus.PENDING.value, RunStatus.RUNNING.value
DONE, INSUFFICIENT, FAILED = (
    RunStatus.DONE.value, RunStatus.INSUFFICIENT_DATA.value, RunStatus.FAILED.value,
)  # fmt: skip
FINISHED_VALUES = [s.value for s in FINISHED]

# One revision snapshot: a finished run's result is kept before it is recomputed.
SAVE_REVISIONS = """
    INSERT INTO monitor_run_revisions (run_id, revision, verdict, n_labels, results, finished_at)
    SELECT id, revision, verdict, n_labels, results, finished_at FROM monitor_runs
"""


# CTE steps putting the done runs a query selected (its CTE ``chosen``) back in the queue,
# each result kept as a revision first; ``requeued`` holds their ids (:pending, :done bound).
# The runs are probed by key (= ANY of an array): with ``IN (SELECT …)`` the planner, misled
# by a just-filled table's statistics, scanned every done run of every monitor instead.
REQUEUE_CHOSEN = f"""saved AS (
        {SAVE_REVISIONS} WHERE id = ANY(ARRAY(SELECT id FROM chosen))
    ), requeued AS (
        UPDATE monitor_runs SET status = :pending, revision = revision + 1
        WHERE id = ANY(ARRAY(SELECT id FROM chosen)) AND status = :done
        RETURNING id
    )"""


# ---- monitor errors ------------------------------------------------------------------------


def record_monitor_error(engine: Engine, monitor_id: int, error: str) -> None:
    """Show an error on its monitor (``last_error``) and count it; never raises further."""
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE monitors SET last_error = :e, last_error_at = now(), "
                    "error_count = error_count + 1 WHERE id = :id"
                ),
                {"e": error[:4000], "id": monitor_id},
            )
    except Exception:
        log.exception("monitor %s: could not record its error", monitor_id)
