"""Property: any event a client can send gets a 202 or a clear 4xx, and what was acked reads
back equal (NUL aside, which becomes U+FFFD)."""

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from tests.conftest import auth

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False, width=64) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)  # fmt: skip
events = st.fixed_dictionaries(
    {"model": st.text(min_size=1, max_size=30), "prompt": st.text(max_size=300),
     "output": st.text(max_size=300)},
    optional={"metadata": st.dictionaries(st.text(max_size=10), json_values, max_size=6),
              "prediction": st.text(max_size=20), "latency_ms": st.floats(-10, 1e6),
              "confidence": st.floats(-1, 2), "finish_reason": st.text(max_size=70)},
)  # fmt: skip


def as_json_numbers(value: Any) -> Any:
    """Compare numbers as JSON does (decimal values): jsonb keeps the exact decimal of
    ``2.251799813685243e16`` but reads it back as the integer ``22517998136852430``."""
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)


def unnul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {unnul(k): unnul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unnul(v) for v in value]
    return value


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(event=events)
def test_any_event_is_acked_and_reads_back_or_refused_clearly(
    client: TestClient, make_key: Callable[..., str], engine: Engine, event: dict[str, Any]
) -> None:
    key = make_key("ingest")
    r = client.post("/v1/events", content=json.dumps(event).encode(), headers={
        **auth(key), "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code in (202, 400, 422), r.text
    if r.status_code != 202:
        assert r.json()["error"]["message"]
        return
    (rid,) = r.json()["request_ids"]
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT model, prompt, output, prediction, metadata FROM events "
                 "WHERE request_id = :r"), {"r": rid},
        ).one()  # fmt: skip
    assert row.prompt == unnul(event["prompt"]) and row.output == unnul(event["output"])
    assert row.prediction == unnul(event.get("prediction"))
    assert as_json_numbers(row.metadata) == as_json_numbers(unnul(event.get("metadata")))
