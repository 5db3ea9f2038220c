"""The one error shape, ``{"error": {"code", "message", "details"}}``, and its handlers.

Every error leaves the service through here, so clients never see a stack trace and the
database going away is a 503 with Retry-After rather than a 500.
"""

import logging
import time
from typing import Any

import psycopg
import sqlalchemy.exc
import sqlalchemy.orm.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import DriftlineError, invalid_input

log = logging.getLogger("driftline.api")


class ErrorDetail(BaseModel):
    """The body of every error."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Documented on every route, so clients (and schema-driven fuzzers) know every answer.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("Malformed body: empty, not JSON, invalid UTF-8"),
    401: _doc("Missing, malformed, unknown or revoked API key"),
    403: _doc("The key lacks the scope this route needs"),
    404: _doc("No such resource"),
    408: _doc("The request body stalled longer than the body read timeout"),
    409: _doc("Conflict (e.g. the name is taken; the run is not finished)"),
    413: _doc("Body or batch too large"),
    415: _doc("Content-Type is not JSON"),
    422: _doc("Invalid input; details name each field (and batch index or file line)"),
    503: _doc(
        "Database unavailable, or the process holds all the request bodies it may; nothing "
        "was stored; retry after Retry-After"
    ),
}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Render the one error shape."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status_code, headers=headers)


# Why the database could not take the request, by SQLSTATE class or code; the client's answer
# is the same 503 (retry later), but the message and the operator's log name the cause.
_DB_CAUSES = {
    "57014": "did not answer within the statement timeout",  # query_canceled
    "53100": "is out of disk space",  # disk_full
    "53": "is out of resources",  # insufficient_resources: memory, connections
    "57P": "is shutting down or restarting",  # admin/crash shutdown, cannot connect now
}


def database_cause(exc: BaseException) -> str:
    """Why PostgreSQL refused: 'is out of disk space', 'is unreachable', ..."""
    orig = getattr(exc, "orig", None) or exc
    sqlstate = getattr(orig, "sqlstate", None) or ""
    for prefix in sorted(_DB_CAUSES, key=len, reverse=True):
        if sqlstate.startswith(prefix):
            return _DB_CAUSES[prefix]
    return "is unreachable"


def database_unavailable(retry_after: int, cause: str = "is unavailable") -> DriftlineError:
    """503 telling the client to retry; used whenever PostgreSQL cannot take the request."""
    return DriftlineError(
        503,
        "database_unavailable",
        f"the database {cause}; nothing from this request was stored, retry later",
        headers={"Retry-After": str(retry_after)},
    )


_DB_DOWN = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # pool exhausted while connections hang
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


_last_outage_log = 0.0


def _log_outage(exc: Exception, cause: str) -> None:
    """One line every 10 s during an outage, not one per refused request."""
    global _last_outage_log
    now = time.monotonic()
    if now - _last_outage_log >= 10:
        _last_outage_log = now
        first = str(exc).splitlines()[0] if str(exc) else repr(exc)
        log.warning("database %s; answering 503: %s", cause, first)


def install_error_handlers(app: FastAPI, *, retry_after: int) -> None:
    """Route every exception to the one error shape."""

    @app.exception_handler(DriftlineError)
    async def _driftline(_: Request, exc: DriftlineError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = invalid_input(list(exc.errors()), drop_body=True)
        return error_response(err.status_code, err.code, err.message, err.details)

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> JSONResponse:
        err = invalid_input(list(exc.errors()))
        return error_response(err.status_code, err.code, err.message, err.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    for exc_type in _DB_DOWN:

        @app.exception_handler(exc_type)
        async def _db_down(_: Request, exc: Exception) -> JSONResponse:
            cause = database_cause(exc)
            _log_outage(exc, cause)
            err = database_unavailable(retry_after, cause)
            return error_response(err.status_code, err.code, err.message, headers=err.headers)

    @app.exception_handler(sqlalchemy.exc.IntegrityError)
    async def _integrity(_: Request, exc: sqlalchemy.exc.IntegrityError) -> JSONResponse:
        # Two requests creating the same name at once: the loser gets what the pre-check
        # would have told it.
        first = str(exc.orig).splitlines()[0] if exc.orig else "conflict"
        return error_response(409, "conflict", f"conflicts with an existing record: {first}")

    @app.exception_handler(sqlalchemy.orm.exc.StaleDataError)
    async def _stale(_: Request, exc: Exception) -> JSONResponse:
        return error_response(
            409, "conflict", "the resource was changed or deleted by another request; retry"
        )

    @app.exception_handler(sqlalchemy.exc.DataError)
    async def _data(_: Request, exc: sqlalchemy.exc.DataError) -> JSONResponse:
        # Validation should have caught it; if a value still cannot be stored, it is the
        # client's input (out of a column's range, unstorable text), not a server fault.
        log.warning("rejected by the database: %s", str(exc.orig).splitlines()[0])
        first = str(exc.orig).splitlines()[0] if exc.orig else "invalid value"
        return error_response(422, "invalid_input", f"a value cannot be stored: {first}")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error; it has been logged")
