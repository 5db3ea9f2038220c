"""Keyset paging: the cursor a list hands out is the last row's sort key, opaque to clients."""

import base64
import json
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


def invalid_cursor() -> DriftlineError:
    """The error for a cursor this API did not issue."""
    return DriftlineError(422, "invalid_cursor", "cursor is not one this API returned")
