"""``/v1/baselines``."""

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from app.api.baselines.schemas import (
    BaselineFromWindowIn,
    BaselineIn,
    BaselineList,
    BaselineOut,
)
from app.api.body import client_gone, read_json
from app.api.deps import AdminCaller, ReadCaller, SessionDep, StateDep
from app.api.errors import ERROR_RESPONSES
from app.api.params import DEFAULT_PAGE, Int4Id, OptionalModelQuery, PageCursor, PageLimit
from app.baselines import service as baselines
from app.baselines.records import EMBEDDERS, BaselineRecordIn
from app.baselines.service import (
    create_baseline,
    create_window_baseline,
    iter_csv,
    iter_jsonl,
)
from app.db.models import Baseline
from app.db.paging import decode_id_cursor, page_of
from app.errors import DriftlineError, invalid_input

router = APIRouter(prefix="/v1/baselines", tags=["baselines"], responses=ERROR_RESPONSES)

_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/BaselineIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["model", "name", "file"],
                    "properties": {
                        "model": {"type": "string"},
                        "name": {"type": "string"},
                        "embedder": {"type": "string", "enum": ["tfidf", "static", "minilm"]},
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "JSONL (one record per line) or CSV",
                        },
                    },
                }
            },
        },
    }
}


async def _from_multipart(request: Request) -> tuple[str, str, str, Any]:
    """The form's fields and a function that streams its file's records (the multipart
    parser has spooled the file to disk; nothing here reads it whole)."""
    try:
        form = await request.form(max_files=1, max_fields=10)
    except ClientDisconnect:
        raise client_gone() from None
    missing = [f for f in ("model", "name", "file") if not form.get(f)]
    if missing:
        raise DriftlineError(422, "invalid_input", f"missing form field(s): {missing}")
    upload = form["file"]
    if isinstance(upload, str):
        raise DriftlineError(422, "invalid_input", "file: must be an uploaded file")
    filename = (upload.filename or "").lower()
    kind = (upload.content_type or "").lower()
    embedder = str(form.get("embedder") or "tfidf")
    if embedder not in EMBEDDERS:
        raise DriftlineError(422, "invalid_input", f"embedder: unknown {embedder!r}")

    def records() -> Iterator[BaselineRecordIn]:
        upload.file.seek(0)
        if filename.endswith(".csv") or "csv" in kind:
            return iter_csv(upload.file)
        return iter_jsonl(upload.file)

    return str(form["model"]), str(form["name"]), embedder, records


@router.post(
    "", status_code=202, response_model=BaselineOut, openapi_extra=_UPLOAD_DOC,
    summary="Register a baseline holdout (JSON, or a JSONL/CSV file upload)",
)  # fmt: skip
async def register_baseline(request: Request, state: StateDep, caller: AdminCaller) -> BaselineOut:
    """Store the records; the worker then builds the profile (``status`` becomes ``ready``).

    A bad record gives a 422 naming its line (uploads) or index (JSON) and field. Files are
    read and stored a batch at a time, so an upload of any allowed size is held in bounded
    memory; a JSON body is limited to ``DRIFTLINE_MAX_BODY_BYTES`` like any other.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        model, name, embedder, records = await _from_multipart(request)
    else:
        declared = request.headers.get("content-length", "")
        limit = state.settings.max_body_bytes
        if declared.isdigit() and int(declared) > limit:
            raise DriftlineError(
                413, "payload_too_large",
                f"a JSON baseline may be up to {limit} bytes; upload a JSONL or CSV file "
                "(multipart/form-data) for larger ones",
                {"max_bytes": limit},
            )  # fmt: skip
        try:
            body = BaselineIn.model_validate(await read_json(request))
        except ValidationError as exc:
            raise invalid_input(list(exc.errors())) from None
        model, name, embedder = body.model, body.name, body.embedder

        def records() -> Iterator[BaselineRecordIn]:
            return iter(body.records)

    def store() -> Baseline:
        with state.sessions() as session, session.begin():
            state.owners.claim(session, caller.project_id, [model])
            # The holdout's predictions are read as the model's events' are, or label drift
            # would compare two different things.
            rule = state.prediction_rules.for_models(session, [model]).get(model)
            return create_baseline(
                session, model=model, name=name, embedder=embedder, records=records(),
                redact_pii=state.settings.redact_pii, prediction_rule=rule,
            )  # fmt: skip

    return BaselineOut.model_validate(await run_in_threadpool(store))


@router.post(
    "/from-window", status_code=202, response_model=BaselineOut,
    summary="Freeze a time range of production traffic as a baseline",
)  # fmt: skip
def baseline_from_window(
    body: BaselineFromWindowIn, session: SessionDep, state: StateDep, caller: AdminCaller
) -> BaselineOut:
    """Registers the range; the worker copies its events (with their labels and scores) and
    profiles them (``status`` becomes ``ready``)."""
    state.owners.check(session, caller.project_id, body.model)
    baseline = create_window_baseline(
        session, model=body.model, version=body.model_version, name=body.name,
        embedder=body.embedder, start=body.start, end=body.end,
    )  # fmt: skip
    return BaselineOut.model_validate(baseline)


@router.get("", response_model=BaselineList, summary="List baselines")
def list_baselines(
    session: SessionDep,
    caller: ReadCaller,
    model: OptionalModelQuery = None,
    limit: PageLimit = DEFAULT_PAGE,
    cursor: PageCursor = None,
) -> BaselineList:
    """The baselines (of one model with ``?model=``) of the key's project, newest first, a
    page at a time (``next_cursor``)."""
    found = baselines.list_baselines(
        session, project=caller.project_id, model=model,
        before=decode_id_cursor(cursor) if cursor else None, limit=limit + 1,
    )  # fmt: skip
    rows, next_cursor = page_of(found, limit, lambda b: (b.id,))
    return BaselineList(
        baselines=[BaselineOut.model_validate(b) for b in rows], next_cursor=next_cursor
    )


@router.get("/{baseline_id}", response_model=BaselineOut, summary="One baseline")
def get_baseline(baseline_id: Int4Id, session: SessionDep, caller: ReadCaller) -> BaselineOut:
    """A baseline with its status and summary figures."""
    return BaselineOut.model_validate(
        baselines.get_baseline(session, baseline_id, project=caller.project_id)
    )
