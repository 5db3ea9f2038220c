"""Monitor windows: plan them, claim them, store results — exactly once — and read them.

One module per part of a run's life: ``plan`` (due windows, backfills), ``claim`` (a run,
or a batch of quick ones, and what a claimed run needs), ``store`` (results, failures,
deferrals, late labels), ``reports`` (HTML reports, rendered after the verdicts), ``rollups``
(hour and day summaries) and ``read``; ``common`` holds the states as SQL values. Callers
use this package's names (``runs.claim_run``), which stay put whichever module holds them.

Coordination is PostgreSQL's: ``(monitor_id, window_start)`` is unique, so planning is
idempotent however many workers plan; a run is claimed with ``FOR UPDATE SKIP LOCKED`` and a
lease, so two workers never take the same window; a worker that dies leaves its lease to
expire and the window is claimed again; a result is stored only by the claim that still owns
the run (same attempt number), so a worker that lost its lease cannot overwrite anything.

Monitors do not trust each other: each is planned in its own transaction and an error is
recorded on that monitor alone; claims take every monitor's live window before anybody's
backfill history, and backfills go round-robin across monitors; a monitor's pending windows
are capped.
"""

from app.monitoring.runs.claim import (
    Claim,
    ClaimedWindow,
    claim_run,
    claim_runs,
    load_claimed,
    recent_judge_summaries,
    release_claims,
    start_claimed,
)
from app.monitoring.runs.common import MAX_PLANNED_PER_TICK, WORKER_ID, record_monitor_error
from app.monitoring.runs.plan import due_windows, plan_due_windows, queue_windows
from app.monitoring.runs.read import (
    Flag,
    LatestKey,
    LatestRun,
    MetricSeries,
    MonitorActivity,
    RunBrief,
    StoredMetric,
    drifted_windows,
    event_flags,
    flagged_request_ids,
    get_run,
    latest_keys,
    latest_per_monitor,
    list_runs,
    metric_series,
    metric_values,
    model_of,
    monitor_activity,
    neighbour_runs,
    novel_request_ids,
    queue_counts,
    recent_runs,
    report_url,
)
from app.monitoring.runs.reports import (
    ReportClaim,
    claim_report,
    drop_old_reports,
    drop_report,
    reports_due,
    store_report,
)
from app.monitoring.runs.rollups import DAY as ROLLUP_DAY
from app.monitoring.runs.rollups import HOUR as ROLLUP_HOUR
from app.monitoring.runs.rollups import Rollup, refresh_rollups, rollups
from app.monitoring.runs.store import (
    SETTLE_SECONDS,
    RunOutcome,
    defer_run,
    fail_run,
    renew_lease,
    requeue_late_labels,
    store_result,
)

__all__ = [
    "MAX_PLANNED_PER_TICK",
    "ROLLUP_DAY",
    "ROLLUP_HOUR",
    "SETTLE_SECONDS",
    "WORKER_ID",
    "Claim",
    "ClaimedWindow",
    "Flag",
    "LatestKey",
    "LatestRun",
    "MetricSeries",
    "MonitorActivity",
    "ReportClaim",
    "Rollup",
    "RunBrief",
    "RunOutcome",
    "StoredMetric",
    "claim_report",
    "claim_run",
    "claim_runs",
    "defer_run",
    "drifted_windows",
    "drop_old_reports",
    "drop_report",
    "due_windows",
    "event_flags",
    "fail_run",
    "flagged_request_ids",
    "get_run",
    "latest_keys",
    "latest_per_monitor",
    "list_runs",
    "load_claimed",
    "metric_series",
    "metric_values",
    "model_of",
    "monitor_activity",
    "neighbour_runs",
    "novel_request_ids",
    "plan_due_windows",
    "queue_counts",
    "queue_windows",
    "recent_judge_summaries",
    "recent_runs",
    "record_monitor_error",
    "refresh_rollups",
    "release_claims",
    "renew_lease",
    "report_url",
    "reports_due",
    "requeue_late_labels",
    "rollups",
    "start_claimed",
    "store_report",
    "store_result",
]
