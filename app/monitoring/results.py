"""What a run is and holds: its states and the typed shape of ``monitor_runs.results``.

The worker writes results through ``RunResults.from_checks(...).dump()``; every reader (the
API, the ``/metrics`` collector, exports, tests) goes through ``RunResults.load`` instead of
JSON paths, so the shape has one definition.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from app.engine.results import SEVERITY, CheckResult, MetricValue, Status

if TYPE_CHECKING:  # the api reads results without the engine's pandas
    from app.engine.labelling import LabelPick


class RunStatus(StrEnum):
    """Where a window run is in its life."""

    PENDING = "pending"  # planned or queued, waiting for a worker
    RUNNING = "running"  # claimed; the lease says until when
    DONE = "done"  # computed with enough data for a verdict
    INSUFFICIENT_DATA = "insufficient_data"  # computed; too few events for a verdict
    FAILED = "failed"  # the computation raised; ``error`` says why (not retried by itself)


# Finished with a stored result (a recompute keeps it as a revision).
FINISHED = (RunStatus.DONE, RunStatus.INSUFFICIENT_DATA)
# A claimable run is pending, or running with an expired lease.
CLAIMABLE = (RunStatus.PENDING, RunStatus.RUNNING)

# The long-tail check's most novel examples: ``details.top_novel`` of ``checks.long_tail``.
# SQL that needs them without loading whole results uses this path; Python uses top_novel_ids.
TOP_NOVEL_PATH = "{checks,long_tail,details,top_novel}"
# Each judge's summary of a window (``app.engine.judged.summary_of``), by judge name: the next
# windows pool them.
JUDGE_SUMMARIES_PATH = "{checks,judge,details,judges}"
# The answers each judge failed (by judge name: ``[{"id", "reason"}, …]``), and the label queue.
JUDGE_WORST_PATH = "{checks,judge,details,worst}"
LABEL_QUEUE_PATH = "{label_queue}"


# What a model with no computed window yet is said to be.
NO_DATA = "no_data"


def worst_verdict(verdicts: list[str | None]) -> str:
    """The worst of several monitors' verdicts (the engine's severity order), or ``no_data``."""
    known = [v for v in verdicts if v]
    return max(known, key=lambda v: SEVERITY[Status(v)], default=NO_DATA)


def jsonable(value: Any) -> Any:
    """Numpy scalars to Python, non-finite floats to None, arrays dropped; deeply."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def metric_json(m: MetricValue) -> dict[str, Any]:
    """One metric value as stored in results and in ``metric_values``."""
    status = m.status.value if m.status else None
    row = {"name": m.name, "feature": m.feature, "value": m.value, "threshold": m.threshold}
    return jsonable({**row, "status": status})  # type: ignore[no-any-return]


@dataclass(frozen=True)
class CheckOutcome:
    """One check's stored result."""

    status: str
    summary: str
    metrics: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResults:
    """``monitor_runs.results``: every check's outcome, the verdict's reasons, the sample."""

    checks: dict[str, CheckOutcome] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    sampled_events: int | None = None
    # What to label next: [{"request_id", "score", "reasons"}], best first.
    label_queue: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_checks(
        cls,
        checks: dict[str, CheckResult],
        reasons: list[str],
        sampled_events: int | None,
        label_queue: "Sequence[LabelPick]" = (),
    ) -> "RunResults":
        """From the engine's check results."""
        return cls(
            checks={
                name: CheckOutcome(
                    status=c.status.value,
                    summary=c.summary,
                    metrics=[metric_json(m) for m in c.metrics],
                    details=jsonable(c.details),
                )
                for name, c in checks.items()
            },
            reasons=list(reasons),
            sampled_events=sampled_events,
            label_queue=[
                {"request_id": p.request_id, "score": p.score, "reasons": list(p.reasons)}
                for p in label_queue
            ],
        )

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> "RunResults":
        """From the stored JSON (None for a run without results)."""
        raw = raw or {}
        return cls(
            checks={
                name: CheckOutcome(
                    status=c.get("status", ""),
                    summary=c.get("summary", ""),
                    metrics=list(c.get("metrics") or []),
                    details=dict(c.get("details") or {}),
                )
                for name, c in (raw.get("checks") or {}).items()
            },
            reasons=list(raw.get("reasons") or []),
            sampled_events=raw.get("sampled_events"),
            label_queue=list(raw.get("label_queue") or []),
        )

    def dump(self) -> dict[str, Any]:
        """The JSON to store (its parts were made JSON-able as they were built)."""
        return {
            "checks": {
                name: {
                    "status": c.status,
                    "summary": c.summary,
                    "metrics": c.metrics,
                    "details": c.details,
                }
                for name, c in self.checks.items()
            },
            "reasons": self.reasons,
            "sampled_events": self.sampled_events,
            "label_queue": self.label_queue,
        }

    def check_statuses(self) -> dict[str, str]:
        """Each check's status."""
        return {name: c.status for name, c in self.checks.items()}

    def top_novel_ids(self) -> list[str]:
        """Request ids of the long-tail check's most novel examples."""
        long_tail = self.checks.get("long_tail")
        novel = long_tail.details.get("top_novel", []) if long_tail else []
        return [str(n["id"]) for n in novel if isinstance(n, dict) and n.get("id") is not None]
