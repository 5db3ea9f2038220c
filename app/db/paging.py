"""Keyset paging: the cursor a list hands out is the last row's sort key, opaque to clients."""

import base64
import json
from datetime import datetime
from typing import Any

from app.errors import DriftlineError


def encode_cursor(*key: Any) -> str:
    """An opaque cursor after the row whose sort key is ``key`` (JSON-serialisable parts)."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode_cursor(cursor: str, parts: int) -> list[Any]:
    """The ``parts`` values a cursor carries; 422 ``invalid_cursor`` for anything this API did
    not issue (the caller checks each value's type and range)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        key = None
    if not isinstance(key, list) or len(key) != parts:
        raise invalid_cursor()
    return key


def decode_id_cursor(cursor: str) -> int:
    """The row id a cursor of a list ordered by id stands for; 422 when it is not one."""
    (row_id,) = decode_cursor(cursor, 1)
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 < row_id < 2**63:
        raise invalid_cursor()
    return row_id


def decode_time_cursor(cursor: str) -> datetime:
    """The time a cursor of a list ordered by a time stands for; 422 when it is not one."""
    (moment,) = decode_cursor(cursor, 1)
    try:
        value = datetime.fromisoformat(moment)
    except (TypeError, ValueError):
        raise invalid_cursor() from None
    if value.tzinfo is None:
        raise invalid_cursor()
    return value


def page_of(rows: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    """The first ``limit`` of ``rows`` (fetched as ``limit + 1``) and the cursor after the
    last of them, ``key(row)`` being its sort key; None when no row follows."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(*key(rows[-1]))


def invalid_cursor() -> DriftlineError:
    """The error for a cursor this API did not issue."""
    return DriftlineError(422, "invalid_cursor", "cursor is not one this API returned")
