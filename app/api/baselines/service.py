"""Parsing uploads and storing baselines (the profile itself is built by the worker)."""

import csv
import io
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from app.api.baselines.schemas import BaselineRecordIn
from app.api.errors import DriftlineError, invalid_input
from app.api.events.schemas import perplexity_from_logprobs
from app.api.storable import make_storable
from app.db.models import Baseline, BaselineRecord

MAX_RECORDS = 500_000


def _line_error(line: int, errors: list[Any]) -> DriftlineError:
    err = invalid_input([{**e, "loc": (f"line {line}", *e["loc"])} for e in errors])
    err.details = [{**d, "line": line} for d in err.details]
    return err


def parse_jsonl(data: bytes) -> list[BaselineRecordIn]:
    """One JSON object per line; a 422 names the first bad line and field."""
    records = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise DriftlineError(
                422, "invalid_input", f"line {number}: not JSON ({exc})", [{"line": number}]
            ) from None
        try:
            records.append(BaselineRecordIn.model_validate(obj))
        except ValidationError as exc:
            raise _line_error(number, list(exc.errors())) from None
    return records


def parse_csv(data: bytes) -> list[BaselineRecordIn]:
    """A header row naming the fields; ``token_logprobs`` and ``metadata`` as JSON cells."""
    try:
        text_data = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DriftlineError(400, "invalid_encoding", f"the CSV is not UTF-8: {exc}") from None
    reader = csv.DictReader(io.StringIO(text_data))
    records = []
    for number, row in enumerate(reader, start=2):  # line 1 is the header
        obj: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
        for field in ("token_logprobs", "metadata"):
            if field in obj:
                try:
                    obj[field] = orjson.loads(obj[field])
                except orjson.JSONDecodeError:
                    raise DriftlineError(
                        422, "invalid_input", f"line {number}: {field} must be JSON",
                        [{"line": number, "field": field}],
                    ) from None  # fmt: skip
        try:
            records.append(BaselineRecordIn.model_validate(obj))
        except ValidationError as exc:
            raise _line_error(number, list(exc.errors())) from None
    return records


def create_baseline(
    session: Session,
    *,
    model: str,
    name: str,
    embedder: str,
    records: list[BaselineRecordIn],
    source: str = "upload",
    redact_pii: bool = False,
) -> Baseline:
    """Store the baseline (pending) and its records; the worker profiles it next.

    ``redact_pii`` must match how events are stored: a baseline holding raw emails compared
    with production text holding ``<EMAIL>`` would show drift that is only redaction.
    """
    if not records:
        raise DriftlineError(422, "invalid_input", "records: a baseline needs at least one record")
    if len(records) > MAX_RECORDS:
        raise DriftlineError(
            413, "too_many_records", f"{len(records)} records; at most {MAX_RECORDS}"
        )
    exists = session.execute(
        text("SELECT id FROM baselines WHERE model = :m AND name = :n"), {"m": model, "n": name}
    ).first()
    if exists:
        raise DriftlineError(
            409, "conflict", f"model {model!r} already has a baseline named {name!r}",
            {"id": exists.id},
        )  # fmt: skip
    baseline = Baseline(
        model=model, name=name, embedder=embedder, source=source, record_count=len(records)
    )
    session.add(baseline)
    session.flush()
    rows = []
    for r in records:
        perplexity = r.perplexity
        if perplexity is None and r.token_logprobs:
            perplexity = perplexity_from_logprobs(r.token_logprobs)
        row, _, _ = make_storable(
            {
                "baseline_id": baseline.id, "prompt": r.prompt, "output": r.output,
                "prediction": r.prediction, "label": r.label, "score": r.score,
                "perplexity": perplexity, "metadata_": r.metadata,
            },
            free_text=("prompt", "output", "prediction", "label", "metadata_"),
            redact=redact_pii,
        )  # fmt: skip
        rows.append(row)
    session.execute(insert(BaselineRecord), rows)
    return baseline


def records_from_window(
    session: Session, *, model: str, version: str | None, start: Any, end: Any
) -> list[BaselineRecordIn]:
    """Production events of a time range (with any labels and scores) as baseline records."""
    rows = session.execute(
        text(
            """
            SELECT e.prompt, e.output, e.prediction, f.label, f.score, e.perplexity, e.metadata
            FROM events e
            LEFT JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id
            WHERE e.model = :m AND e.ts >= :s AND e.ts < :e
              AND (CAST(:v AS text) IS NULL OR e.model_version = :v)
            ORDER BY e.id
            """
        ),
        {"m": model, "v": version, "s": start, "e": end},
    ).mappings()
    return [BaselineRecordIn.model_validate(dict(r)) for r in rows]
