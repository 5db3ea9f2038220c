"""POST /v1/events against real PostgreSQL: durability, idempotency, all-or-nothing, limits."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.db.writers import COPY_MIN_ROWS
from tests.conftest import auth


def event(i: int = 0, **over: Any) -> dict[str, Any]:
    """A valid event; ``over`` replaces fields."""
    ev: dict[str, Any] = {
        "model": "support-bot",
        "model_version": "v1",
        "request_id": f"req-{i}",
        "prompt": f"How do I reset my password? #{i}",
        "output": "Click 'Forgot password' on the sign-in page.",
        "prediction": "account",
        "confidence": 0.9,
        "latency_ms": 120.5,
        "prompt_tokens": 9,
        "completion_tokens": 11,
        "token_logprobs": [-0.1, -0.5, -0.2],
        "finish_reason": "stop",
        "metadata": {"tenant": "acme", "lang": "en"},
    }
    ev.update(over)
    return ev


def count(engine: Engine, table: str = "events") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_single_event_is_stored_with_derived_perplexity(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    r = client.post("/v1/events", json=event(), headers=ingest_headers)
    assert r.status_code == 202, r.text
    assert r.json() == {
        "accepted": 1, "duplicates": 0, "sanitized": 0, "redacted": 0, "request_ids": ["req-0"]
    }  # fmt: skip
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT model, model_version, perplexity, logprob_tokens, metadata FROM events")
        ).one()
    assert row.model == "support-bot" and row.model_version == "v1"
    assert abs(row.perplexity - 1.3056052) < 1e-6  # exp(mean(0.1, 0.5, 0.2))
    assert row.logprob_tokens == 3
    assert row.metadata == {"tenant": "acme", "lang": "en"}


def test_server_assigns_request_id_when_missing(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    ev = event()
    del ev["request_id"]
    r = client.post("/v1/events", json={"events": [ev, ev]}, headers=ingest_headers)
    assert r.status_code == 202
    ids = r.json()["request_ids"]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert count(engine) == 2


def test_retry_of_the_same_batch_stores_nothing_twice(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    n = COPY_MIN_ROWS + 20  # the COPY path, then its fallback
    batch = {"events": [event(i) for i in range(n)]}
    first = client.post("/v1/events", json=batch, headers=ingest_headers)
    again = client.post("/v1/events", json=batch, headers=ingest_headers)
    assert first.json()["accepted"] == n and first.json()["duplicates"] == 0
    assert again.status_code == 202
    assert again.json()["accepted"] == 0 and again.json()["duplicates"] == n
    assert count(engine) == n
    # Half stored before, half new: the COPY aborts, the statement stores the new half.
    mixed = {"events": [event(i) for i in range(n // 2, n + n // 2)]}
    third = client.post("/v1/events", json=mixed, headers=ingest_headers)
    assert third.status_code == 202
    assert third.json()["accepted"] == n // 2 and third.json()["duplicates"] == n - n // 2
    assert count(engine) == n + n // 2


def test_duplicate_request_ids_inside_one_batch_count_as_duplicates(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    r = client.post(
        "/v1/events", json={"events": [event(1), event(1), event(2)]}, headers=ingest_headers
    )
    assert r.json()["accepted"] == 2 and r.json()["duplicates"] == 1
    assert count(engine) == 2


def test_duplicates_inside_a_large_batch_take_the_fallback_and_are_skipped(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    client.post("/v1/events", json=event(5), headers=ingest_headers)
    n = COPY_MIN_ROWS + 20
    batch = [event(i) for i in range(n)] + [event(7)]  # 5 stored already, 7 twice
    r = client.post("/v1/events", json={"events": batch}, headers=ingest_headers)
    assert r.status_code == 202
    assert r.json()["accepted"] == n - 1 and r.json()["duplicates"] == 2
    assert count(engine) == n
    assert count(engine, "models") == 1


def test_same_request_id_under_another_model_is_a_different_event(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    client.post("/v1/events", json=event(1), headers=ingest_headers)
    r = client.post("/v1/events", json=event(1, model="other"), headers=ingest_headers)
    assert r.json()["accepted"] == 1
    assert count(engine) == 2


def test_one_invalid_event_rejects_the_whole_batch_naming_index_and_field(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    batch = [event(i) for i in range(5)]
    batch[3]["confidence"] = "very"
    r = client.post("/v1/events", json={"events": batch}, headers=ingest_headers)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_input"
    assert err["message"].startswith("events[3].confidence")
    assert err["details"][0]["index"] == 3 and err["details"][0]["field"] == "events[3].confidence"
    assert count(engine) == 0


def test_unknown_field_is_rejected_by_name(
    client: TestClient, ingest_headers: dict[str, str]
) -> None:
    r = client.post("/v1/events", json=event(promt="typo"), headers=ingest_headers)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "promt"


def test_body_over_10_mb_is_413_and_nothing_is_stored(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    big = {"events": [event(i, prompt="x" * 1_100_000) for i in range(10)]}
    body = orjson.dumps(big)
    assert len(body) > 10 * 1024 * 1024
    r = client.post(
        "/v1/events",
        content=body,
        headers={**ingest_headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert count(engine) == 0


def test_more_than_1000_events_is_413(client: TestClient, ingest_headers: dict[str, str]) -> None:
    r = client.post(
        "/v1/events",
        json={"events": [event(i, prompt="p", output="o") for i in range(1001)]},
        headers=ingest_headers,
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "batch_too_large"


def test_a_full_batch_of_1000_is_accepted(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    r = client.post(
        "/v1/events", json={"events": [event(i) for i in range(1000)]}, headers=ingest_headers
    )
    assert r.status_code == 202 and r.json()["accepted"] == 1000
    assert count(engine) == 1000


def test_nul_emoji_and_100kb_prompts_round_trip(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    emoji = "Ça va? 👩‍💻🚀 — 中文 العربية \U0001f600"
    long_prompt = ("lorem ipsum dolor sit amet " * 4000)[:100_000]
    events = [
        event(1, prompt="before\x00after", output="o\x00", metadata={"k\x00": "v\x00"}),
        event(2, prompt=emoji, output=emoji),
        event(3, prompt=long_prompt),
    ]
    r = client.post("/v1/events", json={"events": events}, headers=ingest_headers)
    assert r.status_code == 202, r.text
    assert r.json()["sanitized"] == 1 and r.json()["accepted"] == 3
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT request_id, prompt FROM events")).all())
        nul_row = conn.execute(
            text("SELECT output, metadata FROM events WHERE request_id = 'req-1'")
        ).one()
    assert rows["req-1"] == "before\ufffdafter"
    assert nul_row.output == "o\ufffd" and nul_row.metadata == {"k\ufffd": "v\ufffd"}
    assert rows["req-2"] == emoji
    assert rows["req-3"] == long_prompt and len(rows["req-3"]) == 100_000


def test_client_embedding_is_stored(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    r = client.post("/v1/events", json=event(embedding=[0.5, -1.25, 3.0]), headers=ingest_headers)
    assert r.status_code == 202
    with engine.connect() as conn:
        assert conn.execute(text("SELECT embedding FROM events")).scalar_one() == [0.5, -1.25, 3.0]


def test_implausible_values_are_422(client: TestClient, ingest_headers: dict[str, str]) -> None:
    cases = {
        "ts": "2999-01-01T00:00:00Z",
        "confidence": 1.5,
        "latency_ms": -3,
        "token_logprobs": [0.5],
        "prompt_tokens": 1.5,
        "model": "",
        "metadata": {f"k{i}": i for i in range(300)},
    }
    for field, value in cases.items():
        r = client.post("/v1/events", json=event(**{field: value}), headers=ingest_headers)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["error"]["details"][0]["field"].startswith(field)


def test_malformed_bodies_get_clear_4xx(client: TestClient, ingest_headers: dict[str, str]) -> None:
    json_headers = {**ingest_headers, "Content-Type": "application/json"}
    cases = [
        (b"", json_headers, 400, "empty_body"),
        (b"{not json", json_headers, 400, "invalid_json"),
        (b'{"model": "m", "prompt": "a\x00b", "output": "o"}', json_headers, 400, "invalid_json"),
        (b'{"model": "m", "prompt": "\xff\xfe", "output": "o"}', json_headers, 400, "invalid_json"),
        (b"[1, 2]", json_headers, 422, "invalid_input"),
        (b'{"events": []}', json_headers, 422, "invalid_input"),
        (b'{"events": {}}', json_headers, 422, "invalid_input"),
        (b"model=x", {**ingest_headers, "Content-Type": "text/plain"}, 415, None),
    ]
    for body, headers, status, code in cases:
        r = client.post("/v1/events", content=body, headers=headers)
        assert r.status_code == status, (body, r.text)
        if code:
            assert r.json()["error"]["code"] == code


def test_models_lists_versions_and_last_event(
    client: TestClient, ingest_headers: dict[str, str]
) -> None:
    client.post("/v1/events", json=event(1), headers=ingest_headers)
    client.post("/v1/events", json=event(2, model_version="v2"), headers=ingest_headers)
    r = client.get("/v1/models", headers=ingest_headers)
    assert r.status_code == 200
    (model,) = r.json()["models"]
    assert model["name"] == "support-bot"
    assert [v["version"] for v in model["versions"]] == ["v1", "v2"]
    assert model["last_event_at"] is not None


def test_client_timestamps_keep_their_instant_through_the_copy_path(
    client: TestClient, ingest_headers: dict[str, str], engine: Engine
) -> None:
    # A batch for the COPY path, which sends ts in binary: offsets and microseconds must
    # survive it, and events without ts share the server's clock.
    sent = [
        event(i, ts=f"2026-03-0{1 + i % 7}T1{i % 10}:0{i % 6}:07.{i:06d}{offset}")
        for i, offset in zip(range(24), ["+00:00", "+05:30", "-08:00", "Z"] * 6, strict=True)
    ] + [{k: v for k, v in event(100 + i).items() if k != "ts"} for i in range(COPY_MIN_ROWS)]
    with_ts = sent[:24]
    r = client.post("/v1/events", json={"events": sent}, headers=ingest_headers)
    assert r.status_code == 202, r.text
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT request_id, ts FROM events")).all())
        keys = dict(conn.execute(text("SELECT request_id, ts FROM event_keys")).all())
    assert stored == keys
    for ev in with_ts:
        expected = datetime.fromisoformat(ev["ts"].replace("Z", "+00:00"))
        assert stored[ev["request_id"]] == expected, ev["ts"]
    server_clock = {stored[ev["request_id"]] for ev in sent[len(with_ts) :]}
    assert len(server_clock) == 1
    assert abs(datetime.now(UTC) - server_clock.pop()) < timedelta(minutes=5)


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ("support-bot ", "whitespace"),
        ("support\u200b-bot", "invisible characters (U+200B)"),
        ("\uff53upport-bot", "NFKC"),  # a fullwidth s
    ],
)
def test_a_look_alike_model_name_is_422_and_never_a_second_model(
    client: TestClient, make_key: Callable[..., str], model: str, says: str
) -> None:
    headers = auth(make_key("ingest", "read", "admin"))
    assert (
        client.post("/v1/events", json=event(model="support-bot"), headers=headers).status_code
        == 202
    )
    for path, body in (
        ("/v1/events", event(model=model)),
        ("/v1/events", {"events": [event(model=model)]}),
        ("/v1/feedback", {"model": model, "request_id": "r1", "label": "x"}),
        ("/v1/baselines", {"model": model, "name": "b", "records": [{"prompt": "p"}]}),
    ):
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 422 and says in r.text, (path, r.text)
    names = [m["name"] for m in client.get("/v1/models", headers=headers).json()["models"]]
    assert names == ["support-bot"]
