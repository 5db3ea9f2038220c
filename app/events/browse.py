"""Events behind a verdict: list one model's events in a time range with filters and a text
search, a page at a time, and read one event with its features and feedback.

Every list is one index range scan (``ix_events_model_ts`` on each daily partition: the model
and a bounded time range are required), newest first, paged by a keyset cursor on
``(ts, id)`` — never OFFSET, so page 1,000 costs what page 1 does. Filters and the search run
on that range under a statement timeout: a search too broad for it is a clear 422 asking for
a narrower range, never a query left running.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.db.paging import decode_cursor, encode_cursor, invalid_cursor
from app.db.search import contains_pattern
from app.db.windows import WINDOW_FILTER, window_params
from app.errors import DriftlineError
from app.judges import judgments
from app.monitoring import runs

# The widest time range one list may scan, and how long it may take.
MAX_RANGE = timedelta(days=31)
STATEMENT_TIMEOUT_MS = 5_000
MAX_PAGE = 200
DEFAULT_PAGE = 50

_COLUMNS = """
    e.id, e.ts, e.model, e.model_version, e.request_id, e.prompt, e.output, e.prediction,
    e.confidence, e.latency_ms, e.prompt_tokens, e.completion_tokens, e.perplexity,
    e.finish_reason, e.metadata, e.received_at,
    f.label, f.reference, f.score, f.thumbs, f.source AS feedback_source
"""
_LIST = text(
    f"""
    SELECT {_COLUMNS}
    FROM events e
    LEFT JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
    WHERE {WINDOW_FILTER}
      AND (CAST(:prediction AS text) IS NULL OR e.prediction = :prediction)
      AND (CAST(:label AS text) IS NULL OR f.label = :label)
      AND (CAST(:has_label AS boolean) IS NULL OR (f.label IS NOT NULL) = :has_label)
      AND (CAST(:has_score AS boolean) IS NULL
           OR (f.score IS NOT NULL OR f.thumbs IS NOT NULL) = :has_score)
      AND (CAST(:meta_keys AS text[]) IS NULL
           OR (SELECT bool_and(e.metadata ->> m.k IS NOT DISTINCT FROM m.v)
               FROM unnest(CAST(:meta_keys AS text[]), CAST(:meta_values AS text[])) AS m(k, v)))
      AND (CAST(:pattern AS text) IS NULL
           OR e.prompt ILIKE :pattern OR e.output ILIKE :pattern)
      AND (CAST(:only_ids AS text[]) IS NULL OR e.request_id = ANY(:only_ids))
      AND (CAST(:except_ids AS text[]) IS NULL OR NOT e.request_id = ANY(:except_ids))
      AND (CAST(:after_ts AS timestamptz) IS NULL OR (e.ts, e.id) < (:after_ts, :after_id))
    ORDER BY e.ts DESC, e.id DESC
    LIMIT :limit
    """
)
_ONE = text(
    f"""
    SELECT {_COLUMNS}
    FROM event_keys k
    JOIN events e ON e.model = k.model AND e.request_id = k.request_id AND e.ts = k.ts
    LEFT JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
    WHERE k.model = :model AND k.request_id = :request_id
    """
)
_FEATURES = text("SELECT * FROM event_features WHERE event_id = :id AND model = :model")
_TIMEOUT = text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")


@dataclass(frozen=True)
class EventFilter:
    """Which events: one model (and version) in ``start <= ts < end``, and the rest."""

    model: str
    start: datetime
    end: datetime
    version: str | None = None
    prediction: str | None = None
    label: str | None = None
    has_label: bool | None = None
    has_score: bool | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    search: str | None = None
    # Whether a check singled the event out in a window (``runs.flagged_request_ids``).
    flagged: bool | None = None


@dataclass(frozen=True)
class EventPage:
    """One page of events (newest first) and the cursor of the next, if any."""

    events: list[dict[str, Any]]
    next_cursor: str | None


def metadata_pairs(pairs: list[str]) -> dict[str, str]:
    """``["key:value", …]`` (the API's and the events page's metadata filter) as a dict; 422
    naming the pair that is not one."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition(":")
        if not sep or not key:
            message = f"metadata filter {pair!r}: use key:value"
            raise DriftlineError(422, "invalid_metadata", message)
        out[key] = value
    return out


def decode_event_cursor(cursor: str) -> tuple[datetime, int]:
    """The ``(ts, id)`` an events cursor stands for; 422 when it is not one of ours."""
    ts, event_id = decode_cursor(cursor, 2)
    try:
        moment, after = datetime.fromisoformat(ts), int(event_id)
    except (ValueError, TypeError):
        raise invalid_cursor() from None
    if moment.tzinfo is None or not 0 <= after < 2**63:
        raise invalid_cursor()
    return moment, after


def list_events(
    session: Session, flt: EventFilter, *, limit: int = DEFAULT_PAGE, cursor: str | None = None
) -> EventPage:
    """A page of the filtered events, newest first."""
    if flt.end <= flt.start:
        raise DriftlineError(422, "invalid_range", "'to' must be after 'from'")
    if flt.end - flt.start > MAX_RANGE:
        raise DriftlineError(
            422, "range_too_wide",
            f"a list spans at most {MAX_RANGE.days} days: narrow 'from'..'to' (this one spans "
            f"{(flt.end - flt.start).days} days)",
        )  # fmt: skip
    after_ts, after_id = decode_event_cursor(cursor) if cursor else (None, None)
    params = {
        **window_params(flt.model, flt.version, flt.start, flt.end),
        "prediction": flt.prediction, "label": flt.label, "has_label": flt.has_label,
        "has_score": flt.has_score,
        "meta_keys": list(flt.metadata) or None,
        "meta_values": list(flt.metadata.values()) or None,
        "pattern": contains_pattern(flt.search) if flt.search else None,
        "after_ts": after_ts, "after_id": after_id, "limit": limit + 1,
        "only_ids": None, "except_ids": None,
    }  # fmt: skip
    try:
        session.execute(_TIMEOUT)
        if flt.flagged is not None:
            flagged = runs.flagged_request_ids(
                session, model=flt.model, since=flt.start, until=flt.end
            )
            params["only_ids" if flt.flagged else "except_ids"] = flagged
        rows = [dict(r) for r in session.execute(_LIST, params).mappings()]
    except OperationalError as exc:
        if "statement timeout" not in str(exc.orig):
            raise
        raise DriftlineError(
            422, "query_too_broad",
            f"that search ran past {STATEMENT_TIMEOUT_MS // 1000} s: narrow the time range "
            "or add a filter",
        ) from None  # fmt: skip
    finally:
        session.rollback()  # the timeout was for this read only
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return EventPage(rows, encode_cursor(last["ts"].isoformat(), last["id"]) if last else None)


_CLASS_MIX = text(
    f"""
    SELECT coalesce(e.prediction, '') AS prediction, count(*) AS n FROM events e
    WHERE {WINDOW_FILTER} GROUP BY 1 ORDER BY 2 DESC LIMIT :classes
    """
)
# The most classes a comparison lists (the rest are summed as "other").
MAX_CLASSES = 50


def class_mix(
    session: Session, model: str, version: str | None, start: datetime, end: datetime
) -> dict[str, int]:
    """How many events of the window predicted each class (the ``MAX_CLASSES`` commonest;
    ``""``: no prediction), under the list's statement timeout."""
    try:
        session.execute(_TIMEOUT)
        rows = session.execute(
            _CLASS_MIX, {**window_params(model, version, start, end), "classes": MAX_CLASSES}
        )
        return {r.prediction: int(r.n) for r in rows}
    except OperationalError as exc:
        if "statement timeout" not in str(exc.orig):
            raise
        return {}
    finally:
        session.rollback()


def get_event(session: Session, model: str, request_id: str) -> dict[str, Any] | None:
    """One event with its feedback, stored features, its judges' answers and what the
    windows holding it flagged it for (None when there is no such event)."""
    row = session.execute(_ONE, {"model": model, "request_id": request_id}).mappings().first()
    if row is None:
        return None
    event = dict(row)
    features = session.execute(_FEATURES, {"id": event["id"], "model": model}).mappings().first()
    event["features"] = (
        {k: v for k, v in features.items() if k not in ("event_id", "model")} if features else None
    )
    event["judgments"] = [
        asdict(j) for j in judgments.of_event(session, model=model, request_id=request_id)
    ]
    event["flags"] = [
        asdict(f)
        for f in runs.event_flags(session, model=model, request_id=request_id, ts=event["ts"])
    ]
    return event
