"""The fast event decoder (msgspec, ``EventStruct``) and the careful one (pydantic,
``EventIn``) must agree: whatever the fast one accepts, the careful one accepts with the same
values; what it refuses goes to the careful one, which words the error. No database."""

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.api.body import FastItems
from app.api.events.schemas import EventIn, EventStruct, check_event

FAST = FastItems(EventStruct, "events", check_event)
CAREFUL = TypeAdapter(EventIn)
OK = {"model": "m", "prompt": "p", "output": "o"}


def careful(item: Any) -> dict[str, Any] | None:
    try:
        return CAREFUL.validate_python(item).model_dump()
    except ValidationError:
        return None


def fast(body: bytes, max_items: int = 1000) -> list[dict[str, Any]] | None:
    items = FAST.decode(body, max_items=max_items)
    return None if items is None else [msgspec.structs.asdict(i) for i in items]


def test_the_struct_has_the_models_fields_and_defaults() -> None:
    assert set(EventStruct.__struct_fields__) == set(EventIn.model_fields)
    decoded = fast(orjson.dumps(OK))
    assert decoded == [careful(OK)]


def test_batches_and_single_items_are_told_apart() -> None:
    assert fast(orjson.dumps({"events": [OK, OK]})) == [careful(OK)] * 2
    assert fast(b' \n{ "events" : [' + orjson.dumps(OK) + b"]}") == [careful(OK)]
    # Left to the careful path, which says what is wrong:
    assert fast(b'{"events": []}') is None  # an empty batch
    assert fast(orjson.dumps({"events": [OK] * 3}), max_items=2) is None  # too many
    assert fast(orjson.dumps({"events": [OK], "extra": 1})) is None  # more than the batch
    assert fast(orjson.dumps({**OK, "events": 1})) is None


NOW = datetime.now(UTC)
BOUNDARIES: list[Any] = [
    ("model", ""), ("model", "x" * 200), ("model", "x" * 201), ("model", "a\x00b"),
    ("model", 5), ("model", "bot "), ("model", " bot"), ("model", "b\u200bot"),
    ("model", "\uff42\uff4f\uff54"), ("model", "bo\nt"), ("model", "caf\u00e9 bot"),
    ("model_version", "v" * 201), ("request_id", ""), ("request_id", "r\x00"),
    ("request_id", None), ("ts", "1999-12-31T23:59:59Z"), ("ts", "2000-01-01T00:00:00Z"),
    # An id without the clock in it: parallel workers must collect the same tests.
    pytest.param("ts", (NOW + timedelta(hours=25)).isoformat(), id="ts-25h-ahead"),
    ("ts", "2026-03-01T10:00:00"),
    ("ts", "2026-03-01 10:00:00+05:30"), ("ts", 1_700_000_000), ("ts", "yesterday"),
    ("confidence", 1), ("confidence", 1.0000001), ("confidence", -0.0), ("confidence", "0.5"),
    ("confidence", True), ("latency_ms", -1e-9), ("latency_ms", 1e308),
    ("prompt_tokens", 2_147_483_648), ("prompt_tokens", 2.0), ("prompt_tokens", -1),
    ("token_logprobs", []), ("token_logprobs", [0.0, -1e4]), ("token_logprobs", [0.1]),
    ("token_logprobs", [-10001]), ("perplexity", 0.99), ("perplexity", 1e301),
    ("finish_reason", "s" * 65), ("embedding", [1e30, -1e30]), ("embedding", [1e31]),
    ("embedding", [0.5] * 4097), ("metadata", {"k": 1}),
    ("metadata", {str(i): i for i in range(257)}), ("metadata", {"a": [[[]]]}),
    ("metadata", []), ("prompt", None), ("output", 1), ("unknown_field", 1),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), BOUNDARIES)
def test_at_each_bound_the_fast_path_never_accepts_what_the_model_refuses(
    field: str, value: Any
) -> None:
    item = {**OK, field: value}
    decoded = fast(orjson.dumps(item))
    if decoded is not None:
        assert decoded == [careful(item)], (field, value)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_metadata_depth_and_deep_json_go_to_the_careful_path() -> None:
    assert fast(orjson.dumps({**OK, "metadata": nested(64)})) is not None
    assert fast(orjson.dumps({**OK, "metadata": nested(65)})) is None
    deep = b'{"model": "m", "prompt": "p", "output": "o", "metadata": ' + b'{"a": ' * 5000
    assert fast(deep + b"1" + b"}" * 5001) is None  # msgspec's recursion limit, not a 500


scalars = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.sampled_from(["2026-03-01T10:00:00Z", "1990-01-01T00:00:00", "0.5", "", "\x00"])
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)  # fmt: skip
events = st.dictionaries(st.sampled_from([*EventIn.model_fields, "other"]), values, max_size=8).map(
    lambda d: {**OK, **d}
)


@settings(max_examples=400, deadline=None)
@given(events)
def test_any_event_the_fast_path_accepts_the_model_accepts_with_the_same_values(
    item: dict[str, Any],
) -> None:
    decoded = fast(orjson.dumps(item))
    if decoded is not None:
        assert decoded == [careful(item)]
