"""Set-based writers for the ingest hot path.

Each batch is one statement: the rows travel as a single jsonb parameter and PostgreSQL
expands them with ``jsonb_to_recordset``. That is one round trip and no per-row Python or ORM
work, and ``ON CONFLICT DO NOTHING`` on ``(model, request_id)`` makes retries idempotent.
"""

from typing import Any

import orjson
from sqlalchemy import Connection, text

_EVENT_COLUMNS = """
    model text, model_version text, request_id text, ts timestamptz, prompt text, output text,
    prediction text, confidence float8, latency_ms float8, prompt_tokens int,
    completion_tokens int, perplexity float8, logprob_tokens int, finish_reason text,
    embedding real[], metadata jsonb
"""

# The NOT EXISTS guard keeps the models insert from burning a sequence value per batch.
_INSERT_EVENTS = text(
    f"""
    WITH incoming AS (
        SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x({_EVENT_COLUMNS})
    ), new_models AS (
        INSERT INTO models (name, version)
        SELECT DISTINCT i.model, i.model_version FROM incoming i
        WHERE NOT EXISTS (
            SELECT 1 FROM models m WHERE m.name = i.model AND m.version = i.model_version
        )
        ON CONFLICT (name, version) DO NOTHING
    ), inserted AS (
        INSERT INTO events (
            model, model_version, request_id, ts, prompt, output, prediction, confidence,
            latency_ms, prompt_tokens, completion_tokens, perplexity, logprob_tokens,
            finish_reason, embedding, metadata
        )
        SELECT model, model_version, request_id, ts, prompt, output, prediction, confidence,
               latency_ms, prompt_tokens, completion_tokens, perplexity, logprob_tokens,
               finish_reason, embedding, metadata
        FROM incoming
        ON CONFLICT (model, request_id) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) FROM inserted
    """
)

# Later feedback for the same event fills in what it carries and keeps the rest.
_UPSERT_FEEDBACK = text(
    """
    INSERT INTO feedback (model, request_id, label, score, thumbs, source, ts)
    SELECT model, request_id, label, score, thumbs, source, coalesce(ts, now())
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(
        model text, request_id text, label text, score float8, thumbs int, source text,
        ts timestamptz
    )
    ON CONFLICT (model, request_id) DO UPDATE SET
        label = coalesce(EXCLUDED.label, feedback.label),
        score = coalesce(EXCLUDED.score, feedback.score),
        thumbs = coalesce(EXCLUDED.thumbs, feedback.thumbs),
        source = coalesce(EXCLUDED.source, feedback.source),
        ts = EXCLUDED.ts,
        received_at = now()
    """
)


def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert event rows (keys as in ``_EVENT_COLUMNS``); returns how many were new."""
    result = conn.execute(_INSERT_EVENTS, {"rows": orjson.dumps(rows).decode()})
    return int(result.scalar_one())


def upsert_feedback(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert or merge feedback rows keyed by ``(model, request_id)``; returns rows written."""
    result = conn.execute(_UPSERT_FEEDBACK, {"rows": orjson.dumps(rows).decode()})
    return int(result.rowcount)
