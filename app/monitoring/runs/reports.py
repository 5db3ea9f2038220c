"""Window reports, rendered after verdicts: which are due, who renders one, storing it.

A report (Evidently's HTML) costs one to two seconds, twenty times a small window's verdict.
``store_result`` stores the verdict and marks the report due (``report_due_at``); a worker
renders due reports only when no window is waiting, so a fleet's verdicts are not held up by
the pages that explain them. A claim moves ``report_due_at`` a lease ahead: a worker that dies
while rendering leaves the report to come due again (``REPORT_ATTEMPTS`` claims at most). A
report is stored only by the claim that took it (the same ``report_due_at``): a window
recomputed meanwhile (a late label) marks its report due anew; the stale render is discarded.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text

from app.monitoring.runs.common import DONE, log

# Claims of one report before it is given up: a render that kills its worker (out of memory)
# must not be retried by every worker forever.
REPORT_ATTEMPTS = 3


@dataclass(frozen=True)
class ReportClaim:
    """A due report this worker renders until its lease ends, and the stored verdict it
    explains."""

    run_id: int
    due_at: datetime
    verdict: str
    reasons: list[str]
    n_events: int
    retraining_recommended: bool


_CLAIM_REPORT = text(
    """
    UPDATE monitor_runs r SET report_due_at = CASE WHEN r.report_attempts < :attempts
                                                   THEN now() + make_interval(secs => :lease)
                                              END,
                              report_attempts = r.report_attempts + 1
    FROM (
        SELECT id FROM monitor_runs
        WHERE report_due_at <= now() AND status = :done
        ORDER BY report_due_at LIMIT 1
        FOR UPDATE SKIP LOCKED
    ) due
    WHERE r.id = due.id
    RETURNING r.id, r.report_due_at, r.report_attempts, r.verdict,
              r.results -> 'reasons' AS reasons, r.n_events, r.retraining_recommended
    """
)


def claim_report(engine: Engine, *, lease_seconds: int) -> ReportClaim | None:
    """The oldest due report of a finished window, or None. A report claimed
    ``REPORT_ATTEMPTS`` times without being stored (its rendering killed the worker each
    time) is given up at its last claim: logged, never claimed again."""
    with engine.begin() as conn:
        row = conn.execute(
            _CLAIM_REPORT,
            {"lease": lease_seconds, "done": DONE, "attempts": REPORT_ATTEMPTS},
        ).first()
    if row is None:
        return None
    if row.report_due_at is None:
        log.error(
            "run %s: its report was claimed %d times and never stored; given up (the verdict "
            "stands without it)", row.id, row.report_attempts,
        )  # fmt: skip
        return claim_report(engine, lease_seconds=lease_seconds)
    return ReportClaim(
        run_id=row.id, due_at=row.report_due_at, verdict=row.verdict,
        reasons=[str(r) for r in row.reasons or []], n_events=int(row.n_events or 0),
        retraining_recommended=bool(row.retraining_recommended),
    )  # fmt: skip


def store_report(engine: Engine, claim: ReportClaim, report: bytes, *, seconds: float) -> bool:
    """Store a rendered report (and its time under the run's ``report`` timing) if the claim
    still owns it; False when the window was recomputed or the report reclaimed meanwhile."""
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "UPDATE monitor_runs SET report = :report, report_due_at = NULL, "
                "timings = coalesce(timings, '{}'::jsonb) || jsonb_build_object('report', "
                "CAST(:seconds AS float8)) WHERE id = :id AND report_due_at = :due RETURNING id"
            ),
            {"report": report, "seconds": round(seconds, 3), "id": claim.run_id,
             "due": claim.due_at},
        ).first()  # fmt: skip
    return row is not None


def drop_report(engine: Engine, claim: ReportClaim) -> None:
    """Give up a report that cannot be rendered: the verdict stands without it."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE monitor_runs SET report_due_at = NULL "
                "WHERE id = :id AND report_due_at = :due"
            ),
            {"id": claim.run_id, "due": claim.due_at},
        )


def reports_due(conn: Connection) -> int:
    """How many reports wait to be rendered (claimed ones included)."""
    return int(
        conn.execute(
            text("SELECT count(*) FROM monitor_runs WHERE report_due_at IS NOT NULL")
        ).scalar_one()
    )


def drop_old_reports(engine: Engine, cutoff: datetime) -> int:
    """Forget the HTML reports of windows that ended before ``cutoff``, rendered or due
    (verdicts and metric values stay); returns how many."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "UPDATE monitor_runs SET report = NULL, report_due_at = NULL "
                    "WHERE window_end < :cutoff "
                    "AND (report IS NOT NULL OR report_due_at IS NOT NULL)"
                ),
                {"cutoff": cutoff},
            ).rowcount
        )
