"""A window's label queue for an annotation tool: the events the worker ranked as most worth
a human label (``app.engine.labelling``), with their text scrubbed, minus those that got a
label since. The labels come back through ``POST /v1/feedback`` keyed by ``request_id``."""

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db.models import MonitorRun
from app.engine.pii import scrub
from app.monitoring.results import RunResults

# The columns of the CSV (and the keys of each JSONL line); ``label`` is left empty for the
# annotator, and the file imports back as is (``driftline labels import``).
COLUMNS = ("request_id", "model", "ts", "prompt", "output", "prediction", "confidence",
           "priority", "reasons", "label")  # fmt: skip

_EVENTS = text(
    """
    SELECT e.request_id, e.ts, e.prompt, e.output, e.prediction, e.confidence
    FROM events e
    WHERE e.model = :model AND e.ts >= :start AND e.ts < :end
      AND e.request_id = ANY(:ids)
      AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.model = e.model
                      AND f.request_id = e.request_id AND f.label IS NOT NULL)
    """
)


def label_queue(session: Session, run: MonitorRun, model: str) -> list[dict[str, Any]]:
    """The run's queue, best first, still unlabelled, text scrubbed of personal data."""
    picks = RunResults.load(run.results).label_queue
    if not picks:
        return []
    rows = session.execute(
        _EVENTS,
        {"model": model, "start": run.window_start, "end": run.window_end,
         "ids": [p["request_id"] for p in picks]},
    ).mappings()  # fmt: skip
    events = {r["request_id"]: r for r in rows}
    out = []
    for pick in picks:
        event = events.get(pick["request_id"])
        if event is None:  # labelled since, or dropped by retention
            continue
        item: dict[str, Any] = {
            "request_id": event["request_id"], "model": model, "ts": event["ts"].isoformat(),
            "confidence": event["confidence"], "priority": pick["score"],
            "reasons": ",".join(pick["reasons"]), "label": "",
        }  # fmt: skip
        for field in ("prompt", "output", "prediction"):
            value = event[field]
            item[field] = scrub(value)[0] if isinstance(value, str) else value
        out.append({column: item[column] for column in COLUMNS})
    return out


def as_jsonl(rows: list[dict[str, Any]]) -> Iterator[bytes]:
    """One JSON object per line."""
    for row in rows:
        yield orjson.dumps(row) + b"\n"


def as_csv(rows: list[dict[str, Any]]) -> str:
    """A CSV with a header row, ready for a spreadsheet or an annotation tool."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
