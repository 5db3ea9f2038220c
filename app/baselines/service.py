"""Parsing uploads and registering baselines (the worker freezes windows and profiles)."""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

import orjson
from pydantic import ValidationError
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from app.baselines.records import BaselineRecordIn
from app.db.models import Baseline, BaselineRecord
from app.db.storable import make_storable
from app.db.windows import WINDOW_FILTER, window_params
from app.engine.perplexity import perplexity_from_logprobs
from app.errors import DriftlineError, invalid_input
from app.models.ownership import owner_of, visible_models
from app.models.predictions import Rule

MAX_RECORDS = 500_000


def _line_error(line: int, errors: list[Any]) -> DriftlineError:
    err = invalid_input([{**e, "loc": (f"line {line}", *e["loc"])} for e in errors])
    err.details = [{**d, "line": line} for d in err.details]
    return err


def iter_jsonl(lines: Iterable[bytes]) -> Iterator[BaselineRecordIn]:
    """One JSON object per line, validated as it is read; a 422 names the first bad line
    and field."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise DriftlineError(
                422, "invalid_input", f"line {number}: not JSON ({exc})", [{"line": number}]
            ) from None
        try:
            yield BaselineRecordIn.model_validate(obj)
        except ValidationError as exc:
            raise _line_error(number, list(exc.errors())) from None


# A CSV cell may be as large as an upload may be (the csv module's default is 128 KB, and past
# it raises an error the caller would otherwise see as a 500).
csv.field_size_limit(256 * 1024 * 1024)


def iter_csv(stream: IO[bytes]) -> Iterator[BaselineRecordIn]:
    """A header row naming the fields; ``token_logprobs`` and ``metadata`` as JSON cells.
    Read and validated row by row.

    Strict quoting: an unterminated quote is a 422 naming its line, never the rest of the
    file swallowed into one record."""
    text_stream = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text_stream, strict=True)
    number = 1
    try:
        for number, row in enumerate(reader, start=2):  # line 1 is the header
            yield _csv_record(number, row)
    except csv.Error as exc:
        line = reader.line_num or number
        raise DriftlineError(
            422, "invalid_input", f"line {line}: malformed CSV ({exc})", [{"line": line}]
        ) from None
    except UnicodeDecodeError as exc:
        raise DriftlineError(400, "invalid_encoding", f"the CSV is not UTF-8: {exc}") from None
    finally:
        text_stream.detach()  # the caller owns the file


def _csv_record(number: int, row: dict[str | Any, Any]) -> BaselineRecordIn:
    obj: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
    if None in row:
        raise DriftlineError(
            422, "invalid_input", f"line {number}: more cells than the header has columns",
            [{"line": number}],
        )  # fmt: skip
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
        return BaselineRecordIn.model_validate(obj)
    except ValidationError as exc:
        raise _line_error(number, list(exc.errors())) from None


def _refuse_taken_name(session: Session, model: str, name: str) -> None:
    exists = session.execute(
        text("SELECT id FROM baselines WHERE model = :m AND name = :n"), {"m": model, "n": name}
    ).first()
    if exists:
        raise DriftlineError(
            409, "conflict", f"model {model!r} already has a baseline named {name!r}",
            {"id": exists.id},
        )  # fmt: skip


# Records are written in batches of this many, so an upload of any size is held a batch at a
# time (the whole upload is one transaction: a bad line stores nothing).
INSERT_BATCH = 2_000


def create_baseline(
    session: Session,
    *,
    model: str,
    name: str,
    embedder: str,
    records: Iterable[BaselineRecordIn],
    redact_pii: bool = False,
    prediction_rule: Rule | None = None,
) -> Baseline:
    """Store the baseline (pending) and its records as they are read; the worker profiles
    it next. A bad record raises (the caller's transaction then stores nothing). Records
    without a prediction get the one ``prediction_rule`` (the model's) reads from the output.

    ``redact_pii`` must match how events are stored: a baseline holding raw emails compared
    with production text holding ``<EMAIL>`` would show drift that is only redaction.
    """
    _refuse_taken_name(session, model, name)
    baseline = Baseline(model=model, name=name, embedder=embedder, source="upload", record_count=0)
    session.add(baseline)
    session.flush()
    count = 0
    rows: list[dict[str, Any]] = []
    for r in records:
        count += 1
        if count > MAX_RECORDS:
            raise DriftlineError(
                413, "too_many_records", f"more than {MAX_RECORDS} records; at most {MAX_RECORDS}"
            )
        if prediction_rule is not None and r.prediction is None and r.output:
            r = r.model_copy(update={"prediction": prediction_rule.apply(r.output)})
        rows.append(_storable_record(baseline.id, r, redact_pii))
        if len(rows) >= INSERT_BATCH:
            session.execute(insert(BaselineRecord), rows)
            rows = []
    if rows:
        session.execute(insert(BaselineRecord), rows)
    if count == 0:
        raise DriftlineError(422, "invalid_input", "records: a baseline needs at least one record")
    baseline.record_count = count
    session.flush()
    return baseline


def _storable_record(baseline_id: int, r: BaselineRecordIn, redact_pii: bool) -> dict[str, Any]:
    perplexity = r.perplexity
    if perplexity is None and r.token_logprobs:
        perplexity = perplexity_from_logprobs(r.token_logprobs)
    row, _, _ = make_storable(
        {
            "baseline_id": baseline_id, "prompt": r.prompt, "output": r.output,
            "prediction": r.prediction, "label": r.label, "reference": r.reference,
            "score": r.score, "confidence": r.confidence, "perplexity": perplexity,
            "metadata_": r.metadata,
        },
        free_text=("prompt", "output", "prediction", "label", "reference", "metadata_"),
        redact=redact_pii,
    )  # fmt: skip
    return row


def create_window_baseline(
    session: Session,
    *,
    model: str,
    version: str | None,
    name: str,
    embedder: str,
    start: datetime,
    end: datetime,
) -> Baseline:
    """Register a time range of production traffic as a baseline (pending).

    Only an index probe happens here; the worker copies the events in one statement
    (``app.baselines.profiles.freeze_window_baselines``) and then profiles them, so a range
    of millions of events costs the request nothing.
    """
    if end <= start:
        raise DriftlineError(422, "invalid_input", "end: must be after start")
    any_event = session.execute(
        text(f"SELECT 1 FROM events e WHERE {WINDOW_FILTER} LIMIT 1"),
        window_params(model, version, start, end),
    ).first()
    if any_event is None:
        raise DriftlineError(
            422, "invalid_input", f"no events for model {model!r} between start and end"
        )
    _refuse_taken_name(session, model, name)
    baseline = Baseline(
        model=model, model_version=version, name=name, embedder=embedder, source="window",
        record_count=0, window_start=start, window_end=end,
    )  # fmt: skip
    session.add(baseline)
    session.flush()
    session.commit()
    return baseline


def list_baselines(
    session: Session, *, project: int | None, model: str | None, before: int | None = None,
    limit: int | None = None,
) -> list[Baseline]:  # fmt: skip
    """The baselines a caller bound to ``project`` sees (every project's: None), optionally
    of one model, newest first; a page of ``limit`` older than the id ``before`` when given."""
    stmt = select(Baseline).order_by(Baseline.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(Baseline.id < before)
    if (mine := visible_models(project)) is not None:
        stmt = stmt.where(Baseline.model.in_(mine))
    if model:
        stmt = stmt.where(Baseline.model == model)
    return list(session.scalars(stmt))


# The most classes a baseline's mix lists (the commonest).
MAX_MIX_CLASSES = 50


def prediction_mix(session: Session, baseline_id: int) -> dict[str, int]:
    """How many of the baseline's records predicted each class (the ``MAX_MIX_CLASSES``
    commonest; ``""``: no prediction); empty for a baseline kept as a profile only."""
    rows = session.execute(
        text(
            "SELECT coalesce(prediction, '') AS prediction, count(*) AS n FROM baseline_records "
            "WHERE baseline_id = :id GROUP BY 1 ORDER BY 2 DESC LIMIT :classes"
        ),
        {"id": baseline_id, "classes": MAX_MIX_CLASSES},
    )
    return {r.prediction: int(r.n) for r in rows}


def baselines_by_id(session: Session, ids: Iterable[int]) -> dict[int, Baseline]:
    """The baselines of those ids, by id."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {b.id: b for b in session.scalars(select(Baseline).where(Baseline.id.in_(wanted)))}


def get_baseline(session: Session, baseline_id: int, *, project: int | None) -> Baseline:
    """The baseline of that id the caller may see; 404 otherwise (another project's answers
    like a missing one)."""
    baseline = session.get(Baseline, baseline_id)
    if baseline is None or (project is not None and owner_of(session, baseline.model) != project):
        raise DriftlineError(404, "not_found", f"no baseline {baseline_id}")
    return baseline
