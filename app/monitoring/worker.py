"""Compute a claimed window: load its events, run the engine, hand the outcome to ``runs``."""

import logging
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, text

from app.baselines.profiles import load_profile
from app.db.replica import PRIMARY_ONLY, ReadReplica, caught_up
from app.db.windows import (
    SAMPLE_FILTER,
    WINDOW_FILTER,
    count_window_events,
    sample_permille,
    window_params,
)
from app.engine import descriptors as desc
from app.engine.descriptors import FEATURE_COLUMNS
from app.engine.report import REPORT_MAX_ROWS, Headline, render_report
from app.engine.results import Status
from app.engine.thresholds import Thresholds
from app.engine.window import evaluate_window, flatten_metadata
from app.monitoring import runs
from app.monitoring.judging import JudgeDeferred, judge_window
from app.monitoring.results import RunResults, RunStatus

log = logging.getLogger("driftline.runs")

# Earlier windows loaded for the persistence rule (a monitor's persistence_n is at most this+1).
MAX_HISTORY = 32
# Windows (and reports) one pass of the worker's tick computes before it featurises new
# events and plans new windows again (app.jobs.scheduler.worker_tick).
RUNS_PER_TICK = 20
# Quick windows are claimed in batches of about this many seconds of work (judged by the
# window just computed), at most CLAIM_BATCH_MAX: a claim ranks every monitor with a window
# waiting, which in a fleet of small windows costs as much as a window. A batch's later runs
# wait on a lease of at most CLAIM_HOLD_SECONDS, so those of a worker that dies come back
# soon; each gets the full lease when it starts.
CLAIM_BATCH_SECONDS = 1.0
CLAIM_BATCH_MAX = 16
CLAIM_HOLD_SECONDS = 30

_FRAME = f"""
    SELECT e.id, e.request_id, e.model_version, e.prompt, e.output, e.prediction, e.confidence,
           e.perplexity, e.finish_reason, e.embedding, e.metadata, f.label, f.reference,
           coalesce(f.score, CASE f.thumbs WHEN 1 THEN 1.0 WHEN -1 THEN 0.0 END) AS score,
           ef.event_id IS NOT NULL AS has_features,
           {", ".join(f"ef.{c}" for c in FEATURE_COLUMNS)}
    FROM events e
    LEFT JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
    LEFT JOIN event_features ef ON ef.model = e.model AND ef.event_id = e.id
    WHERE {WINDOW_FILTER} AND {SAMPLE_FILTER}
    ORDER BY e.id
"""


_RECENT = f"""
    SELECT e.prediction, e.confidence, e.perplexity, f.label
    FROM events e
    LEFT JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
    WHERE {WINDOW_FILTER} AND {SAMPLE_FILTER}
"""


def recent_frame(
    conn: Connection, window: runs.ClaimedWindow, *, windows: int, cap: int
) -> pd.DataFrame | None:
    """The previous ``windows`` windows' predictions, labels, confidences and perplexities
    (a deterministic sample above ``cap``): the evidence pooled with this window's."""
    if windows < 1:
        return None
    span = (window.window_end - window.window_start) * windows
    params = window_params(
        window.model, window.model_version, window.window_start - span, window.window_start
    )
    total = count_window_events(conn, params)
    if total == 0:
        return None
    return _read_frame(conn, _RECENT, {**params, "permille": sample_permille(total, cap)})


def window_frame(
    conn: Connection, window: runs.ClaimedWindow, *, cap: int
) -> tuple[pd.DataFrame, int]:
    """The window's events (a deterministic sample above ``cap``) and their exact count."""
    params = window_params(
        window.model, window.model_version, window.window_start, window.window_end
    )
    total = count_window_events(conn, params)
    frame = _read_frame(conn, _FRAME, {**params, "permille": sample_permille(total, cap)})
    return frame, total


def _read_frame(conn: Connection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """The rows as a frame, as ``pd.read_sql`` builds it (records, decimals as floats)
    without its wrapper's millisecond, which a small window paid twice."""
    result = conn.execute(text(sql), params)
    return pd.DataFrame.from_records(
        result.fetchall(), columns=list(result.keys()), coerce_float=True
    )


def _thresholds(window: runs.ClaimedWindow) -> Thresholds:
    """The monitor's thresholds: the defaults, its ``min_events`` and its overrides."""
    return Thresholds(min_events=window.min_events).with_overrides(window.thresholds)


def _descriptors(frame: pd.DataFrame, vocab: frozenset[str]) -> pd.DataFrame:
    """Stored features where the featuriser has been, computed here for the rest."""
    d = frame[list(desc.FEATURE_COLUMNS)].copy()
    missing = ~frame["has_features"].astype(bool)
    if missing.any():
        fresh = desc.compute_descriptors(frame[missing])
        d.loc[missing, list(desc.FEATURE_COLUMNS)] = fresh[list(desc.FEATURE_COLUMNS)]
    for flag in desc.FLAGS:
        d[flag] = d[flag].astype(bool)
    d["language"] = d["language"].fillna("").astype(str)
    d["prompt_oov_share"] = desc.oov_share(frame["prompt"], vocab)
    d["output_oov_share"] = desc.oov_share(frame["output"], vocab)
    return d


def execute_run(
    engine: Engine, claim: runs.Claim, *, sample_cap: int, lease_seconds: int = 600,
    reports: str = "all", replica: ReadReplica = PRIMARY_ONLY,
    on_read: Callable[[str], None] | None = None,
) -> str:  # fmt: skip
    """Compute a claimed run and store its result; returns the stored status (or ``lost``
    when another worker took the run over meanwhile). ``reports``: ``all`` windows with data
    get an HTML report, or only ``flagged`` ones (any verdict but ok); it is marked due and
    rendered by ``render_due_report`` once no window waits. The window's events
    are read from ``replica`` once it has caught up with the primary (``on_read`` hears
    which server served them)."""
    started = time.perf_counter()
    window = runs.start_claimed(engine, claim, lease_seconds=lease_seconds, history=MAX_HISTORY)
    if window is None:
        log.warning("run %s: its claim was lost before it started; left to its owner",
                    claim.run_id)  # fmt: skip
        return "lost"
    thresholds = _thresholds(window)
    with caught_up(engine, replica) as (conn, source):
        frame, total = window_frame(conn, window, cap=sample_cap)
        recent = recent_frame(conn, window, windows=thresholds.pool_windows - 1, cap=sample_cap)
    if on_read is not None:
        on_read(source)
    keep = max(0, thresholds.persistence_n - 1)
    history = window.drift_history[len(window.drift_history) - keep :] if keep else ()
    timings: dict[str, float] = {"load": round(time.perf_counter() - started, 3)}
    if total > len(frame):
        log.info("run %s: %d events, computed on a sample of %d", claim.run_id, total, len(frame))
    profile = load_profile(window.profile_blob)
    meta_keys = [c.removeprefix("meta_") for c in profile.meta_numeric + profile.meta_categorical]
    if meta_keys and len(frame):
        frame = pd.concat([frame, flatten_metadata(frame["metadata"], meta_keys)], axis=1)
        for col in profile.meta_numeric:  # keep the baseline's types whatever clients send now
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    judged = []
    if len(frame) >= thresholds.min_events:
        t = time.perf_counter()
        judged = judge_window(
            engine, window, frame, attempt=claim.attempt,
            pool_windows=thresholds.judge_pool_windows,
            renew=lambda: runs.renew_lease(engine, claim, lease_seconds),
        )  # fmt: skip
        timings["judges"] = round(time.perf_counter() - t, 3)
    result = evaluate_window(
        profile,
        frame,
        judged=judged,
        thresholds=thresholds,
        drift_history=history,
        previously_recommended=window.previously_recommended,
        descriptors=_descriptors(frame, profile.vocab) if len(frame) else None,
        recent=recent,
    )
    timings.update(result.timings)
    timings["total"] = round(time.perf_counter() - started, 3)
    status = (
        RunStatus.INSUFFICIENT_DATA if result.status is Status.INSUFFICIENT_DATA else RunStatus.DONE
    )
    sampled = len(frame) if total > len(frame) else None
    # The report is rendered later (render_due_report), when no window waits.
    wants_report = result.status is not Status.INSUFFICIENT_DATA and (
        reports == "all" or result.status is not Status.OK  # else: only flagged ones
    )
    outcome = runs.RunOutcome(
        status=status, verdict=result.status.value, drift_signal=result.drift_signal,
        retraining_recommended=result.retraining_recommended, n_events=total,
        n_labels=int(frame["label"].notna().sum()) if len(frame) else 0,
        checks=result.checks,
        results=RunResults.from_checks(
            result.checks, result.reasons, sampled, label_queue=result.label_queue
        ),
        wants_report=wants_report, timings=timings,
    )  # fmt: skip
    if not runs.store_result(engine, claim, outcome, history=keep):
        log.warning("run %s: lease lost before the result was stored; discarded", claim.run_id)
        return "lost"
    log.info(
        "run %s (monitor %s, %s): %s, %d events, %.1fs",
        claim.run_id, window.monitor_name, window.window_start.isoformat(),
        result.status.value, result.n_events, timings["total"],
    )  # fmt: skip
    return status.value


def render_due_report(
    engine: Engine, *, sample_cap: int, lease_seconds: int = 600,
    replica: ReadReplica = PRIMARY_ONLY,
) -> bool:  # fmt: skip
    """Render and store the oldest due window report; False when none is due. The report
    is Evidently's view of the window's events (a deterministic sample of at most
    ``REPORT_MAX_ROWS``, as it always showed) against the baseline, under the stored
    verdict. One that fails is logged and given up: the verdict stands without it."""
    claim = runs.claim_report(engine, lease_seconds=lease_seconds)
    if claim is None:
        return False
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            window = runs.load_claimed(conn, claim.run_id, history=0)
        with caught_up(engine, replica) as (conn, _):
            # The report shows at most REPORT_MAX_ROWS rows: read no more than that.
            frame, _ = window_frame(conn, window, cap=min(sample_cap, REPORT_MAX_ROWS))
        profile = load_profile(window.profile_blob)
        thresholds = _thresholds(window)
        headline = Headline(
            claim.verdict, claim.reasons, claim.n_events, claim.retraining_recommended
        )
        html = render_report(
            profile, frame, _descriptors(frame, profile.vocab), headline,
            title=f"monitor {window.monitor_name}", thresholds=thresholds,
        )  # fmt: skip
        report = zlib.compress(html.encode(), 6)
    except Exception:
        log.exception("run %s: the report failed to render; the verdict stands without it",
                      claim.run_id)  # fmt: skip
        runs.drop_report(engine, claim)
        return True
    seconds = time.perf_counter() - started
    if not runs.store_report(engine, claim, report, seconds=seconds):
        log.info("run %s: recomputed while its report rendered; the new one is due", claim.run_id)
    else:
        log.info("run %s: report rendered, %.1fs", claim.run_id, seconds)
    return True


def run_pending(
    engine: Engine,
    *,
    lease_seconds: int,
    sample_cap: int,
    max_runs: int = RUNS_PER_TICK,
    reports: str = "all",
    replica: ReadReplica = PRIMARY_ONLY,
    on_read: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    on_outcome: Callable[[str], None] | None = None,
    on_report: Callable[[], None] | None = None,
) -> int:
    """Claim and compute runs until none is due (or ``max_runs``, or ``stop`` is set: the
    process is shutting down); returns how many windows ran. Quick windows are claimed in
    batches (``claim_batch``); claimed runs not started when it stops are given back. While
    no window waits, due reports are rendered (each counts towards ``max_runs``): windows
    always go first. A window that raises is recorded as failed on its run and monitor; the
    next goes on.
    ``on_outcome`` hears each window's stored status (``failed`` included; ``deferred`` when
    a judge did not answer and the window waits), for the worker's own metrics;
    ``on_report`` each due report handled (rendered, or given up)."""
    ran = 0
    held: deque[runs.Claim] = deque()
    batch = 1  # until a window's cost is known
    try:
        for turn in range(max_runs):
            if stop is not None and stop.is_set():
                break
            if not held:
                held.extend(
                    runs.claim_runs(
                        engine,
                        lease_seconds=min(lease_seconds, CLAIM_HOLD_SECONDS),
                        limit=min(batch, max_runs - turn),
                    )
                )
            if not held:
                rendered = render_due_report(
                    engine, sample_cap=sample_cap, lease_seconds=lease_seconds, replica=replica
                )
                if not rendered:
                    break
                if on_report is not None:
                    on_report()
                continue
            claim = held.popleft()
            started = time.perf_counter()
            try:
                outcome = execute_run(
                    engine, claim, sample_cap=sample_cap, lease_seconds=lease_seconds,
                    reports=reports, replica=replica, on_read=on_read,
                )  # fmt: skip
            except JudgeDeferred as exc:  # answers so far are cached; the rest later
                log.warning("run %s: %s; deferred %ds", claim.run_id, exc, exc.delay_seconds)
                runs.defer_run(engine, claim, exc.delay_seconds, str(exc))
                outcome = "deferred"
            except Exception as exc:  # one bad window must not stop the worker
                log.exception("run %s failed", claim.run_id)
                runs.fail_run(engine, claim, f"{type(exc).__name__}: {exc}")
                outcome = RunStatus.FAILED
            batch = claim_batch(time.perf_counter() - started)
            if on_outcome is not None:
                on_outcome(str(outcome))
            ran += 1
    finally:
        if held:  # stopping (or the database went away): not started, so not ours to keep
            _release(engine, list(held))
    return ran


def claim_batch(window_seconds: float) -> int:
    """How many windows to claim next, after one that took ``window_seconds``."""
    return max(1, min(CLAIM_BATCH_MAX, int(CLAIM_BATCH_SECONDS / max(window_seconds, 1e-6))))


def _release(engine: Engine, claims: list[runs.Claim]) -> None:
    try:
        runs.release_claims(engine, claims)
    except Exception:  # their short lease runs out and another claim takes them
        log.exception("could not give back %d claimed run(s)", len(claims))
