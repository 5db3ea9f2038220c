"""Select, deduplicate and scrub retraining examples (shared by the API and the CLI)."""

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.engine.pii import scrub

REASONS = ("novel", "drifted", "low_score", "wrong_label")
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
    "novel": """
        SELECT e.id, 'novel' AS reason FROM monitor_runs r
        JOIN monitors m ON m.id = r.monitor_id
        CROSS JOIN LATERAL jsonb_array_elements(
            coalesce(r.results #> '{checks,long_tail,details,top_novel}', '[]'::jsonb)) AS n
        JOIN events e ON e.model = m.model AND e.request_id = n->>'id'
        WHERE m.model = :model AND r.window_start < :until AND r.window_end > :since
          AND e.ts >= :since AND e.ts < :until
    """,
    "drifted": f"""
        SELECT d.id, 'drifted' AS reason FROM monitor_runs r
        JOIN monitors m ON m.id = r.monitor_id
        CROSS JOIN LATERAL (
            SELECT e.id FROM events e
            WHERE e.model = m.model AND e.ts >= r.window_start AND e.ts < r.window_end
              AND e.ts >= :since AND e.ts < :until
            ORDER BY e.id LIMIT {DRIFTED_PER_WINDOW}
        ) d
        WHERE m.model = :model AND r.verdict = 'drift'
          AND r.window_start < :until AND r.window_end > :since
    """,
}


def _normalised_key(prompt: str) -> bytes:
    return hashlib.blake2b(
        " ".join(re.findall(r"\w+", prompt.lower())).encode(), digest_size=16
    ).digest()


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
        FROM g JOIN events e ON e.id = g.id
        LEFT JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
        ORDER BY e.ts, e.id
        """
    )
    seen: set[bytes] = set()
    emitted = 0
    result = session.execute(
        sql,
        {"model": model, "since": since, "until": until, "min_score": min_score},
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
