"""Each row of docs/bad-input.md: the documented status, and nothing half-stored."""

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import auth

OK = {"model": "m", "prompt": "p", "output": "o"}
MANY_KEYS = {f"k{i}": i for i in range(10_000)}
DUPLICATES = {"events": [{**OK, "request_id": "d"}] * 3}


def nested(levels: int) -> dict[str, object]:
    """Metadata ``levels`` objects deep."""
    value: object = 1
    for _ in range(levels - 1):
        value = {"a": value}
    return {"a": value}


ROWS = [
    ("empty body", b"", 400),
    ("not JSON", b"hello", 400),
    ("deeply nested JSON", b'{"model": "m", "prompt": "p", "output": "o", "metadata": '
     + b'{"a": ' * 2000 + b"1" + b"}" * 2001, 400),
    ("invalid UTF-8", b'{"model": "m", "prompt": "\xff\xfe", "output": "o"}', 400),
    ("NaN literal", b'{"model": "m", "prompt": "p", "output": "o", "latency_ms": NaN}', 400),
    ("lone surrogate", b'{"model": "m", "prompt": "\\udbb8", "output": "o"}', 400),
    ("negative number", json.dumps({**OK, "latency_ms": -1}).encode(), 422),
    ("timestamp before 2000", json.dumps({**OK, "ts": "1970-01-01T00:00:00Z"}).encode(), 422),
    ("timestamp next year", json.dumps({**OK, "ts": "2999-01-01T00:00:00Z"}).encode(), 422),
    ("10,000 metadata keys", json.dumps({**OK, "metadata": MANY_KEYS}).encode(), 422),
    ("unknown field", json.dumps({**OK, "promt": "typo"}).encode(), 422),
    ("metadata nested 64 levels", json.dumps({**OK, "metadata": nested(64)}).encode(), 202),
    ("metadata nested 65 levels", json.dumps({**OK, "metadata": nested(65)}).encode(), 422),
    ("metadata nested 300 levels", json.dumps({**OK, "metadata": nested(300)}).encode(), 422),
    ("1 MB prompt", json.dumps({**OK, "prompt": "x" * 1_000_000}).encode(), 202),
    ("NUL in text", json.dumps({**OK, "prompt": "a\x00b"}).encode(), 202),
    ("duplicate request_ids in a batch", json.dumps(DUPLICATES).encode(), 202),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "status"), ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_row(
    client: TestClient, make_key: Callable[..., str], engine: Engine,
    name: str, body: bytes, status: int,
) -> None:  # fmt: skip
    headers = {**auth(make_key("ingest")), "Content-Type": "application/json"}
    r = client.post("/v1/events", content=body, headers=headers)
    assert r.status_code == status, (name, r.text[:300])
    acked = {"accepted", "duplicates", "sanitized", "redacted", "request_ids"}
    assert set(r.json()) == ({"error"} if status >= 400 else acked)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    assert stored == (1 if status == 202 else 0), name
