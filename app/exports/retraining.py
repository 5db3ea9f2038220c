"""Select, deduplicate and scrub retraining examples (shared by the API and the CLI).

Which windows drifted and which examples were novel come from ``app.monitoring.runs``;
this module reads only events and feedback itself.
"""

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.engine.near_duplicates import normalised
from app.engine.pii import scrub
from app.exports.reasons import REASONS

__all__ = ["REASONS", "retraining_examples"]
from app.judges.judgments import EVENT
from app.monitoring import runs

DRIFTED_PER_WINDOW = 200

# One query: candidate (event, reason) pairs from each selected source, grouped per event.
# "novel" ids come from the long-tail check's stored top examples of each run in range.
_CANDIDATES = {
    "wrong_label": """
        SELECT e.id, 'wrong_label' AS reason FROM events e
        JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
        WHERE e.model = :model AND e.ts >= :since AND e.ts < :until
          AND f.label IS NOT NULL AND e.prediction IS NOT NULL AND f.label <> e.prediction
    """,
    "low_score": """
        SELECT e.id, 'low_score' AS reason FROM events e
        JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
        WHERE e.model = :model AND e.ts >= :since AND e.ts < :until
          AND (f.score < :min_score OR f.thumbs = -1)
    """,
    # Answers an LLM judge failed (any judge, any version: each failure is worth a look).
    "judge_failed": """
        SELECT e.id, 'judge_failed' AS reason FROM events e
        WHERE e.model = :model AND e.ts >= :since AND e.ts < :until
          AND EXISTS (SELECT 1 FROM judgments j WHERE j.model = e.model
                      AND j.key = e.request_id AND j.passed = false
                      AND j.subject = :event_subject)
    """,
    # The long-tail check's most novel examples of each window in range (ids from the runs).
    "novel": """
        SELECT e.id, 'novel' AS reason FROM events e
        WHERE e.model = :model AND e.request_id = ANY(:novel_ids)
          AND e.ts >= :since AND e.ts < :until
    """,
    # The first events of each window judged drift (windows from the runs).
    "drifted": f"""
        SELECT d.id, 'drifted' AS reason
        FROM unnest(CAST(:drift_starts AS timestamptz[]), CAST(:drift_ends AS timestamptz[]))
            AS w(start, end_)
        CROSS JOIN LATERAL (
            SELECT e.id FROM events e
            WHERE e.model = :model AND e.ts >= w.start AND e.ts < w.end_
              AND e.ts >= :since AND e.ts < :until
            ORDER BY e.id LIMIT {DRIFTED_PER_WINDOW}
        ) d
    """,
}


def _normalised_key(prompt: str) -> bytes:
    return hashlib.blake2b(normalised(prompt).encode(), digest_size=16).digest()


def retraining_examples(
    session: Session,
    *,
    model: str,
    since: datetime,
    until: datetime,
    reasons: tuple[str, ...] = REASONS,
    min_score: float = 0.5,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield scrubbed, de-duplicated examples (oldest first), each with why it was chosen.

    PII in prompt, output, prediction and label is replaced by typed placeholders
    (``<EMAIL>``, ``<PHONE>``, ``<CARD>``, ``<IBAN>``, ``<IP>``). Near-duplicate prompts
    (same words, any case or punctuation) are exported once.
    """
    unknown = sorted(set(reasons) - set(REASONS))
    if unknown or not reasons:
        raise ValueError(f"unknown reason(s) {unknown}; choose from {list(REASONS)}")
    union = " UNION ALL ".join(f"({_CANDIDATES[r]})" for r in reasons)
    sql = text(
        f"""
        WITH c AS ({union}),
        g AS (SELECT id, array_agg(DISTINCT reason ORDER BY reason) AS reasons FROM c GROUP BY id)
        SELECT e.request_id, e.model_version, e.ts, e.prompt, e.output, e.prediction,
               f.label, f.score, g.reasons
        FROM g JOIN events e ON e.model = :model AND e.id = g.id
        LEFT JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
        ORDER BY e.ts, e.id
        """
    )
    params: dict[str, Any] = {"model": model, "since": since, "until": until}
    if "judge_failed" in reasons:
        params["event_subject"] = EVENT
    if "novel" in reasons:
        params["novel_ids"] = runs.novel_request_ids(session, model=model, since=since, until=until)
    if "drifted" in reasons:
        windows = runs.drifted_windows(session, model=model, since=since, until=until)
        params["drift_starts"] = [w[0] for w in windows]
        params["drift_ends"] = [w[1] for w in windows]
    seen: set[bytes] = set()
    emitted = 0
    result = session.execute(
        sql,
        {**params, "min_score": min_score},
        execution_options={"stream_results": True, "yield_per": 1000},
    )
    for row in result.mappings():
        key = _normalised_key(row["prompt"])
        if key in seen:
            continue
        seen.add(key)
        clean: dict[str, Any] = {
            "request_id": row["request_id"],
            "model": model,
            "model_version": row["model_version"],
            "ts": row["ts"].isoformat(),
            "reasons": list(row["reasons"]),
            "score": row["score"],
        }
        for field in ("prompt", "output", "prediction", "label"):
            value = row[field]
            clean[field] = scrub(value)[0] if isinstance(value, str) else value
        yield clean
        emitted += 1
        if limit is not None and emitted >= limit:
            return
