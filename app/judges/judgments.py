"""Judges' answers, cached by (judge version, subject): this module owns ``judgments``."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

EVENT = "event"
BASELINE = "baseline"
# A baseline record judged again on a given day (key: "<record id>@<YYYY-MM-DD>").
ANCHOR = "anchor"


@dataclass(frozen=True)
class Judgment:
    """A stored answer (``error`` set: the judge answered off-format; no score)."""

    key: str
    score: float | None
    passed: bool | None
    reason: str | None
    error: str | None


def cached(
    conn: Connection, *, model: str, judge_id: int, version: int, subject: str,
    keys: Sequence[str],
) -> dict[str, Judgment]:  # fmt: skip
    """The stored answers among ``keys``, by key."""
    if not keys:
        return {}
    rows = conn.execute(
        text(
            "SELECT key, score, passed, reason, error FROM judgments WHERE model = :model "
            "AND judge_id = :judge AND judge_version = :version AND subject = :subject "
            "AND key = ANY(:keys)"
        ),
        {"model": model, "judge": judge_id, "version": version, "subject": subject,
         "keys": list(keys)},
    ).all()  # fmt: skip
    return {r.key: Judgment(r.key, r.score, r.passed, r.reason, r.error) for r in rows}


def store(
    conn: Connection, *, model: str, judge_id: int, version: int, subject: str,
    answers: Sequence[tuple[Judgment, int]],
) -> None:  # fmt: skip
    """Keep answers with the tokens each cost (a concurrent worker's copy wins a tie)."""
    if not answers:
        return
    conn.execute(
        text(
            "INSERT INTO judgments (model, judge_id, judge_version, subject, key, score, "
            "passed, reason, error, tokens) VALUES (:model, :judge, :version, :subject, :key, "
            ":score, :passed, :reason, :error, :tokens) "
            "ON CONFLICT (model, subject, key, judge_id, judge_version) DO NOTHING"
        ),
        [
            {"model": model, "judge": judge_id, "version": version, "subject": subject,
             "key": j.key, "score": j.score, "passed": j.passed, "reason": j.reason,
             "error": j.error, "tokens": tokens}
            for j, tokens in answers
        ],
    )  # fmt: skip


def tokens_today(conn: Connection, judge_id: int, *, now: datetime | None = None) -> int:
    """Tokens the judge's answers cost since midnight UTC (the daily cap's meter)."""
    now = now or datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(
        conn.execute(
            text(
                "SELECT coalesce(sum(tokens), 0) FROM judgments "
                "WHERE judge_id = :judge AND created_at >= :since"
            ),
            {"judge": judge_id, "since": midnight},
        ).scalar_one()
    )


@dataclass(frozen=True)
class EventJudgment:
    """What one judge (at one version) said about an event."""

    judge: str
    version: int
    score: float | None
    passed: bool | None
    reason: str | None
    error: str | None
    at: datetime


# An event's answers, newest first: a few judges at a few versions, never more than this.
MAX_EVENT_JUDGMENTS = 50


def of_event(conn: Connection | Session, *, model: str, request_id: str) -> list[EventJudgment]:
    """Every stored judge answer about one event (``(model, subject, key)`` index range)."""
    rows = conn.execute(
        text(
            "SELECT j.name, a.judge_version, a.score, a.passed, a.reason, a.error, a.created_at "
            "FROM judgments a JOIN judges j ON j.id = a.judge_id WHERE a.model = :model "
            "AND a.subject = :subject AND a.key = :key ORDER BY a.created_at DESC LIMIT :n"
        ),
        {"model": model, "subject": EVENT, "key": request_id, "n": MAX_EVENT_JUDGMENTS},
    )
    return [EventJudgment(*r) for r in rows]
