"""DRIFTLINE_REDACT_PII: raw emails, phones, cards, IBANs and IPs never reach the database."""

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.config import Settings
from app.main import create_app
from tests.conftest import auth

RAW = {
    "email": "jane.doe@example.com",
    "phone": "+44 20 7946 0958",
    "card": "4111 1111 1111 1111",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "ip": "192.168.10.20",
}
TEXT = (
    f"mail {RAW['email']} or call {RAW['phone']}; card {RAW['card']}, "
    f"iban {RAW['iban']}, from {RAW['ip']}"
)


@pytest.fixture
def settings() -> Settings:
    return Settings(database_url=None, api_key_cache_seconds=0, redact_pii=True)


def _everything_stored(engine: Engine) -> str:
    """Every row of every table that holds user text, as one string."""
    tables = ["events", "feedback", "baseline_records"]
    with engine.connect() as conn:
        return "\n".join(
            str(row[0])
            for table in tables
            for row in conn.execute(text(f"SELECT t::text FROM {table} t"))
        )


def _post_everything(client: TestClient, key: str) -> dict[str, int]:
    headers = auth(key)
    event = {
        "model": "bot",
        "request_id": "r1",
        "prompt": TEXT,
        "output": f"I emailed {RAW['email']}",
        "prediction": RAW["phone"],
        "metadata": {"user": RAW["email"], "nested": [{"ip": RAW["ip"]}], RAW["email"]: 1},
    }
    r = client.post("/v1/events", json=event, headers=headers)
    assert r.status_code == 202, r.text
    fb = {"model": "bot", "request_id": "r1", "label": f"escalate to {RAW['email']}"}
    f = client.post("/v1/feedback", json=fb, headers=headers)
    assert f.status_code == 202, f.text
    baseline = {
        "model": "bot",
        "name": "holdout",
        "records": [{"prompt": TEXT, "output": "ok", "label": RAW["card"]}],
    }
    b = client.post("/v1/baselines", json=baseline, headers=headers)
    assert b.status_code == 202, b.text
    return {"event": r.json()["redacted"], "feedback": f.json()["redacted"]}


def test_redaction_keeps_raw_pii_out_of_every_table(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    counts = _post_everything(client, make_key("admin"))
    stored = _everything_stored(engine)
    for kind, raw in RAW.items():
        assert raw not in stored, f"raw {kind} stored"
    for placeholder in ("<EMAIL>", "<PHONE>", "<CARD>", "<IBAN>", "<IP>"):
        assert placeholder in stored
    # prompt: 5 spans, output 1, prediction 1, metadata 3 (two values and a key)
    assert counts == {"event": 10, "feedback": 1}
    with engine.connect() as conn:
        prompt = conn.execute(text("SELECT prompt FROM events")).scalar_one()
    assert prompt == "mail <EMAIL> or call <PHONE>; card <CARD>, iban <IBAN>, from <IP>"


def test_without_the_setting_text_is_stored_as_sent(
    database_url: str, make_key: Callable[..., str], engine: Engine
) -> None:
    app: FastAPI = create_app(database_url, Settings(database_url=None, api_key_cache_seconds=0))
    with TestClient(app) as plain:
        counts = _post_everything(plain, make_key("admin"))
    assert counts == {"event": 0, "feedback": 0}
    stored = _everything_stored(engine)
    assert all(raw in stored for raw in RAW.values())


def test_redaction_leaves_ordinary_numbers_alone_and_refuses_personal_identifiers(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    key = auth(make_key("ingest"))
    event = {
        "model": "bot",
        "request_id": "order-1234567",
        "model_version": "v2.14.4",
        "prompt": "order 1234567 costs 12.50 at 10:30, invoice 2024-01-15",
        "output": "ok",
        "metadata": {"account": "14155552671", "order": "123456789012"},
    }
    r = client.post("/v1/events", json=event, headers=key)
    assert r.status_code == 202 and r.json()["redacted"] == 1, r.text  # the phone in metadata
    with engine.connect() as conn:
        row = conn.execute(text("SELECT request_id, prompt, metadata FROM events")).one()
    assert tuple(row) == (
        "order-1234567",
        event["prompt"],
        {"account": "<PHONE>", "order": "123456789012"},
    )
    # An identifier is a key: rewriting it would merge events (every address becomes the
    # same <EMAIL>), keeping it would store it raw and echo it back. So it is refused.
    for field, value in (("request_id", "user@example.com"), ("model_version", "+1 415 555 2671")):
        r = client.post("/v1/events", json={**event, field: value}, headers=key)
        assert r.status_code == 422 and f"{field}: holds personal data" in r.text, r.text
        assert value not in r.text
    fb = {"model": "bot", "request_id": "jane@example.com", "label": "x"}
    r = client.post("/v1/feedback", json=fb, headers=key)
    assert r.status_code == 422 and "request_id: holds personal data (EMAIL)" in r.text


# The formats a black-box attack found stored raw (and exported) before phonenumbers, stdnum
# and ipaddress confirmed the candidates: each must be gone from every table.
MORE = {
    "short IPv6": "2001:db8::1",
    "UK national mobile": "07911 123456",
    "German landline": "+49 30 1234567",
    "card with dots": "4111.1111.1111.1111",
    "card with underscores": "5555_5555_5555_4444",
    "lower-case IBAN": "de89370400440532013000",
    "dashed IBAN": "GB82-WEST-1234-5698-7654-32",
    "internationalised e-mail": "jürgen.müller@beispiel.de",
}


def test_redaction_holds_for_the_formats_that_slipped_through(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    headers = auth(make_key("admin"))
    event = {
        "model": "bot",
        "request_id": "r2",
        "prompt": " | ".join(MORE.values()),
        "output": "ok",
        "finish_reason": f"stop {MORE['internationalised e-mail']}",
        # Whole numbers are checked as card numbers (Luhn); a bare integer is never taken for a
        # phone number: ids and millisecond timestamps look just like one.
        "metadata": {"card": 4111111111111111, "ts_ms": 1732681234567, "count": 12},
    }
    r = client.post("/v1/events", json=event, headers=headers)
    assert r.status_code == 202, r.text
    fb = {"model": "bot", "request_id": "r2", "label": "x", "source": MORE["UK national mobile"]}
    assert client.post("/v1/feedback", json=fb, headers=headers).status_code == 202
    stored = _everything_stored(engine)
    for kind, raw in MORE.items():
        assert raw not in stored, f"raw {kind} stored"
    assert "4111111111111111" not in stored
    with engine.connect() as conn:
        metadata = conn.execute(text("SELECT metadata FROM events")).scalar_one()
    assert metadata == {"card": "<CARD>", "ts_ms": 1732681234567, "count": 12}
