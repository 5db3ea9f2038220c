"""Descriptors and PII detection on hand-built texts."""

import pandas as pd
import pytest

from app.engine.descriptors import compute_descriptors, oov_share, vocabulary
from app.engine.pii import iban_ok, luhn_ok, scrub


def test_lengths_words_nonletters_and_flags() -> None:
    events = pd.DataFrame(
        {
            "prompt": ["Hello world", "", "1234 !!!"],
            "output": [
                "I'm sorry, but I can't help with that.",
                "Sure thing",
                "As an AI language model, I cannot do that",
            ],
            "finish_reason": ["stop", "length", None],
        }
    )
    d = compute_descriptors(events, with_language=False)
    assert d["prompt_chars"].tolist() == [11, 0, 8]
    assert d["prompt_words"].tolist() == [2, 0, 2]
    assert d["prompt_nonletter_share"].tolist() == [0.0, 0.0, 1.0]
    assert d["prompt_empty"].tolist() == [False, True, False]
    assert d["refusal"].tolist() == [True, False, True]
    assert d["truncated"].tolist() == [False, True, False]


def test_language_is_detected_offline() -> None:
    events = pd.DataFrame(
        {
            "prompt": [
                "Where can I find the nearest pharmacy that is open tonight?",
                "¿Dónde está la farmacia más cercana que abre esta noche?",
                "ok",
            ],
            "output": ["", "", ""],
        }
    )
    assert compute_descriptors(events)["language"].tolist() == ["en", "es", ""]


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("write to jane.doe@example.co.uk today", ["EMAIL"]),
        ("call +44 20 7946 0958 or (555) 123-4567", ["PHONE", "PHONE"]),
        ("card 4111 1111 1111 1111 expires", ["CARD"]),
        ("IBAN GB82 WEST 1234 5698 7654 32 please", ["IBAN"]),
        ("server at 10.0.12.7 and fe80:0:0:0:202:b3ff:fe1e:8329", ["IP", "IP"]),
        ("order 4111 1111 1111 1112 shipped", []),  # fails Luhn: not a card
        ("ticket 20240115 on 2024-01-15, 3 items for $1,299.00", []),
    ],
)
def test_pii_kinds_and_no_false_positives(text: str, kinds: list[str]) -> None:
    scrubbed, found = scrub(text)
    assert sorted(found) == sorted(kinds)
    for kind in kinds:
        assert f"<{kind}>" in scrubbed


def test_checksum_failures_are_not_typed_as_cards_or_ibans() -> None:
    assert "IBAN" not in scrub("GB82 WEST 1234 5698 7654 33")[1]  # fails mod-97
    assert "CARD" not in scrub("4111 1111 1111 1112")[1]  # fails Luhn


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE89 3704 0044 0532 0130 01")


def test_pii_flag_in_descriptors() -> None:
    events = pd.DataFrame({"prompt": ["my mail is a@b.io", "nothing here"], "output": ["", ""]})
    assert compute_descriptors(events, with_language=False)["pii"].tolist() == [True, False]


def test_text_redacted_at_ingest_still_counts_as_holding_pii() -> None:
    # With DRIFTLINE_REDACT_PII the stored text holds placeholders; the PII rate must not drop.
    redacted, kinds = scrub("write to a@b.io or +44 20 7946 0958")
    assert redacted == "write to <EMAIL> or <PHONE>" and kinds == ["EMAIL", "PHONE"]
    events = pd.DataFrame({"prompt": [redacted, "a <b> tag"], "output": ["", ""]})
    assert compute_descriptors(events, with_language=False)["pii"].tolist() == [True, False]


def test_oov_share_against_a_vocabulary() -> None:
    vocab = vocabulary(pd.Series(["the cat sat", "on the mat"]))
    shares = oov_share(pd.Series(["the cat flew", "", "DOG DOG"]), vocab)
    assert shares.round(3).tolist() == [0.333, 0.0, 1.0]
