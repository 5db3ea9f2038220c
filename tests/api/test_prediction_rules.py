"""Prediction rules: a model whose events carry only the answer gets its prediction read
from the output (the whole output, a JSON field, a regex), through /v1/events and OTLP."""

from collections.abc import Callable

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.models.predictions import MAX_PREDICTION_CHARS, Rule
from tests.conftest import auth
from tests.otlp.test_endpoint import PROTOBUF, URL, chat_span, export

RULE = "/v1/models/support-bot/prediction-rule"


@pytest.mark.parametrize(
    ("rule", "output", "prediction"),
    [
        (Rule("output"), "  billing \n", "billing"),
        (Rule("json", field="label"), '{"label": "refund", "reply": "Sorry!"}', "refund"),
        (Rule("json", field="result.class"), '{"result": {"class": 3}}', "3"),
        (Rule("json", field="label"), "not json at all", None),
        (Rule("json", field="label"), '{"label": {"nested": 1}}', None),
        (Rule("regex", pattern=r"(?i)category:\s*(\w+)"), "OK. Category: Billing.", "Billing"),
        (Rule("regex", pattern=r"\b(yes|no)\b"), "I think yes", "yes"),
        (Rule("regex", pattern=r"\d+"), "answer 42", "42"),
        (Rule("regex", pattern=r"category: (\w+)"), "no match here", None),
        (Rule("output"), "x" * 1000, "x" * MAX_PREDICTION_CHARS),
    ],
)
def test_a_rule_reads_the_prediction_from_an_output(
    rule: Rule, output: str, prediction: str | None
) -> None:
    assert rule.apply(output) == prediction


# Catastrophic for a backtracking engine: Python's re takes ~2^n steps on n "a"s and a "!"
# (the red team's 30 characters froze the api for 43 s). RE2 is linear: these return at once.
# Under the old engine this test would not finish (pytest-timeout fails it at 300 s).
@pytest.mark.parametrize(
    "pattern", [r"(a+)+$", r"(a|a)*b", r"(x+x+)+y", r"^(([a-z])+.)+[A-Z]([a-z])+$"]
)
def test_no_pattern_makes_matching_backtrack(pattern: str) -> None:
    rule = Rule("regex", pattern=pattern)
    for n in (30, 64, 9_000):  # below MAX_SCANNED_CHARS, so the "!" is read too
        assert rule.apply("a" * n + "!") is None
        assert rule.apply("x" * n + "!") is None


def test_a_stored_pattern_re2_refuses_reads_nothing_and_never_raises() -> None:
    """A rule stored before patterns were RE2 (a lookbehind): ingest goes on without it."""
    assert Rule("regex", pattern=r"(?<=category: )\w+").apply("category: billing") is None


def predictions(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT request_id, prediction FROM events")).all()
    return dict((r.request_id, r.prediction) for r in rows)


def test_events_without_a_prediction_get_the_one_the_rule_reads(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    admin, ingest = auth(make_key("admin")), auth(make_key("ingest"))
    assert client.get(RULE, headers=admin).status_code == 404
    r = client.put(RULE, json={"source": "json", "field": "label"}, headers=admin)
    assert r.status_code == 200 and r.json()["field"] == "label", r.text
    answer = orjson.dumps({"label": "refund", "reply": "Sorry!"}).decode()
    events = [
        {"model": "support-bot", "request_id": "a", "prompt": "p", "output": answer},
        {"model": "support-bot", "request_id": "b", "prompt": "p", "output": answer,
         "prediction": "billing"},  # carried: kept
        {"model": "support-bot", "request_id": "c", "prompt": "p", "output": "plain text"},
        {"model": "other-bot", "request_id": "d", "prompt": "p", "output": answer},  # no rule
    ]  # fmt: skip
    assert client.post("/v1/events", json={"events": events}, headers=ingest).status_code == 202
    assert predictions(engine) == {"a": "refund", "b": "billing", "c": None, "d": None}

    # OTLP spans carry only the answer: the regex rule reads it.
    rule = {"source": "regex", "pattern": r"(?i)answer\b"}
    assert client.put(RULE, json=rule, headers=admin).status_code == 200
    body = export(chat_span(1)).SerializeToString()
    assert client.post(URL, content=body, headers={**ingest, **PROTOBUF}).status_code == 200
    assert predictions(engine)[f"{1:032x}-{2:016x}"] == "answer"

    assert client.delete(RULE, headers=admin).status_code == 204
    assert client.delete(RULE, headers=admin).status_code == 404
    more = {"model": "support-bot", "request_id": "e", "prompt": "p", "output": answer}
    assert client.post("/v1/events", json=more, headers=ingest).status_code == 202
    assert predictions(engine)["e"] is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"source": "json"}, "needs `field`"),
        ({"source": "regex"}, "needs `pattern`"),
        ({"source": "regex", "pattern": "(unclosed"}, "not a regular expression"),
        ({"source": "regex", "pattern": "(a)(b)"}, "at most one capturing group"),
        # Backtracking-only syntax: RE2 refuses it, saying why.
        ({"source": "regex", "pattern": r"(\w+) \1"}, "RE2"),
        ({"source": "regex", "pattern": r"(?<=category: )\w+"}, "no backreferences or lookaround"),
        ({"source": "output", "pattern": "x"}, "for regex rules only"),
        ({"source": "output", "field": "x"}, "for json rules only"),
        ({"source": "json", "field": "a..b"}, "field"),
        ({"source": "xml"}, "source"),
    ],
)
def test_an_invalid_rule_is_a_422_naming_the_problem(
    client: TestClient, make_key: Callable[..., str], body: dict[str, str], says: str
) -> None:
    r = client.put(RULE, json=body, headers=auth(make_key("admin")))
    assert r.status_code == 422 and says in r.text, r.text


def test_only_an_admin_key_sets_a_rule(client: TestClient, make_key: Callable[..., str]) -> None:
    r = client.put(RULE, json={"source": "output"}, headers=auth(make_key("ingest", "read")))
    assert r.status_code == 403


def test_an_uploaded_baseline_reads_its_predictions_by_the_same_rule(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    admin = auth(make_key("admin"))
    assert client.put(RULE, json={"source": "output"}, headers=admin).status_code == 200
    records = [{"prompt": "p", "output": "billing"},
               {"prompt": "p", "output": "refund", "prediction": "kept"}]  # fmt: skip
    r = client.post("/v1/baselines", json={"model": "support-bot", "name": "h",
                                           "records": records}, headers=admin)  # fmt: skip
    assert r.status_code == 202, r.text
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT prediction FROM baseline_records ORDER BY id")).all()
    assert [p for (p,) in stored] == ["billing", "kept"]
