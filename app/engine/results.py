"""Result types shared by every check."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Per-check and overall verdicts, from best to worst (``insufficient_data`` aside)."""

    OK = "ok"
    WARNING = "warning"
    DRIFT = "drift"
    DEGRADED = "degraded"
    INSUFFICIENT_DATA = "insufficient_data"
    # A check that cannot apply to this model (e.g. it reports no confidence); never a verdict.
    NOT_APPLICABLE = "not_applicable"
    # The check itself failed (its exception is the summary); never a verdict, and the other
    # checks still decide the window.
    ERROR = "error"


class AnswerKind(StrEnum):
    """What an LLM judge answers: a pass/fail verdict (score 1 or 0), or a score in [0, 1]
    that passes at the judge's threshold."""

    BINARY = "pass_fail"
    SCORE = "score"


# When checks disagree, the overall verdict is the most severe one.
SEVERITY = {
    Status.NOT_APPLICABLE: 0,
    Status.OK: 0,
    Status.INSUFFICIENT_DATA: 1,
    Status.WARNING: 2,
    Status.DRIFT: 3,
    Status.DEGRADED: 4,
    Status.ERROR: 0,
}
# The statuses a whole window can have (a check may also be not_applicable or error).
VERDICT_STATUSES = tuple(s for s in Status if s not in (Status.NOT_APPLICABLE, Status.ERROR))


@dataclass(frozen=True)
class MetricValue:
    """One number a check produced; ``feature`` names the column or class it is about."""

    name: str
    value: float | None
    feature: str | None = None
    threshold: float | None = None
    status: Status | None = None


@dataclass
class CheckResult:
    """A check's status for one window, its metric values and anything the report needs."""

    check: str
    status: Status
    summary: str
    metrics: list[MetricValue] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str, feature: str | None = None) -> float | None:
        """The value of a metric by name (and feature), or None."""
        for m in self.metrics:
            if m.name == name and m.feature == feature:
                return m.value
        return None
