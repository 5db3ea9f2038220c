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

# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection"):
# an end user's prompt "=HYPERLINK(…)" must reach the annotator as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Prefixed to such a cell (and to one that already starts with it, so that the prefix can be
# taken off again unambiguously): spreadsheets show the rest as text and drop the prefix when
# they save.
TEXT_PREFIX = "'"

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


def defuse_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, made plain text (OWASP's advice:
    a leading apostrophe); other values unchanged."""
    if isinstance(value, str) and value.startswith((*FORMULA_START, TEXT_PREFIX)):
        return TEXT_PREFIX + value
    return value


def restore_cell(value: str) -> str:
    """The value ``defuse_cell`` was given: its prefix taken off when still there (a file
    edited as text). A spreadsheet that saved the file dropped it already."""
    if value.startswith(TEXT_PREFIX) and value[1:].startswith((*FORMULA_START, TEXT_PREFIX)):
        return value[1:]
    return value


# A prompt may be far longer than the csv module's 128 KB default field limit; the body limits
# bound what can be stored, so the reader needs no limit of its own.
_FIELD_LIMIT = 2**31 - 1


def read_csv(text: str) -> list[dict[str, str]]:
    """The rows of a label-queue CSV (any cell size), formula quoting undone."""
    csv.field_size_limit(_FIELD_LIMIT)
    return [
        {k: restore_cell(v) if isinstance(v, str) else v for k, v in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]


def as_csv(rows: list[dict[str, Any]]) -> str:
    """A CSV with a header row, ready for a spreadsheet or an annotation tool; no cell
    starts a formula (``defuse_cell``), and ``driftline labels import`` undoes that."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: defuse_cell(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()
