"""One verdict per window from its checks, with persistence and the retraining flag."""

from collections.abc import Sequence
from dataclasses import dataclass

from app.engine.results import SEVERITY, CheckResult, Status
from app.engine.thresholds import Thresholds


@dataclass(frozen=True)
class Verdict:
    """The window's overall status, whether to retrain, and why."""

    status: Status
    drift_signal: bool
    retraining_recommended: bool
    reasons: list[str]


def decide(
    checks: Sequence[CheckResult],
    *,
    thresholds: Thresholds,
    drift_history: Sequence[bool] = (),
    previously_recommended: bool = False,
) -> Verdict:
    """Combine check statuses into a verdict.

    ``drift_history`` holds, oldest first, whether each earlier window of the monitor had a
    drift signal. A drift signal becomes the verdict ``drift`` only when it appears in at
    least ``persistence_k`` of the last ``persistence_n`` windows (this one included);
    before that the window says ``warning``. Quality degradation needs no persistence: its
    own confidence interval already guards it.

    ``retraining_recommended`` turns on when quality is degraded or drift has persisted for
    ``retrain_after_windows`` consecutive windows, and stays on (``previously_recommended``)
    until the caller resets it for a new model version or baseline.
    """
    skipped = (Status.INSUFFICIENT_DATA, Status.NOT_APPLICABLE, Status.ERROR)
    ran = [c for c in checks if c.status not in skipped]
    failed = [f"{c.check}: {c.summary}" for c in checks if c.status is Status.ERROR]
    if not ran:
        return Verdict(
            Status.INSUFFICIENT_DATA, False, previously_recommended,
            ["no check had enough data", *failed],
        )  # fmt: skip
    degraded = [c for c in ran if c.status is Status.DEGRADED]
    drifted = [c for c in ran if c.status is Status.DRIFT]
    drift_signal = bool(drifted)
    recent = [*drift_history[-(thresholds.persistence_n - 1) :], drift_signal]
    persistent = drift_signal and sum(recent) >= thresholds.persistence_k
    consecutive = 0
    for signal in reversed([*drift_history, drift_signal]):
        if not signal:
            break
        consecutive += 1

    reasons = [f"{c.check}: {c.summary}" for c in degraded + drifted]
    if degraded:
        status = Status.DEGRADED
    elif persistent:
        status = Status.DRIFT
    elif drift_signal:
        status = Status.WARNING
        reasons.append(
            f"drift seen in {sum(recent)} of the last {len(recent)} windows; "
            f"declared at {thresholds.persistence_k}"
        )
    else:
        status = max((c.status for c in ran), key=SEVERITY.__getitem__)
        reasons += [f"{c.check}: {c.summary}" for c in ran if c.status is Status.WARNING]
    retrain = (
        previously_recommended or bool(degraded) or consecutive >= thresholds.retrain_after_windows
    )
    if retrain and not previously_recommended:
        why = "quality degraded" if degraded else f"drift in {consecutive} consecutive windows"
        reasons.append(f"retraining recommended: {why}")
    return Verdict(status, drift_signal, retrain, reasons + failed)
