"""From a drifting window to a retraining dataset a trainer loads, and back: the version
trained on it reports its scores, and status shows training → validation → production."""

import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import get_settings
from app.datasets import chatterbot
from app.engine.pii import scrub
from app.exports.dataset import DatasetSpec, chat_messages, example_class, split_examples
from tests.engine.paraphrases import reword
from tests.engine.pii_corpus import POSITIVES
from tests.jobs.test_monitoring_flow import (
    HOUR,
    ORIGIN,
    admin,  # noqa: F401 (a fixture)
    make_monitor,
    tweets,  # noqa: F401 (a fixture)
    upload_baseline,
    work,
)

SEEDED = 40


def _pii_values() -> list[str]:
    """The personal data in each corpus sentence: what the redactor replaces."""
    values = []
    for sentence, _ in POSITIVES:
        clean = scrub(sentence)[0]
        start = next(i for i, (a, b) in enumerate(zip(sentence, clean, strict=False)) if a != b)
        tail = next(
            i for i, (a, b) in enumerate(zip(reversed(sentence), reversed(clean), strict=False))
            if a != b
        )  # fmt: skip
        values.append(sentence[start : len(sentence) - tail].strip(" ,.;"))
    return values


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def post(client: TestClient, headers: dict[str, str], rows: list[dict[str, object]]) -> None:
    events = [{k: v for k, v in r.items() if k != "label"} for r in rows]
    r = client.post("/v1/events", json={"events": events}, headers=headers)
    assert r.status_code == 202 and r.json()["accepted"] == len(rows), r.text
    fb = [{"model": "news-bot", "request_id": r["request_id"], "label": r["label"]} for r in rows]
    assert client.post("/v1/feedback", json={"feedback": fb}, headers=headers).status_code == 202


def test_a_drifting_window_becomes_train_and_validation_files_a_trainer_loads(
    client: TestClient,
    admin: dict[str, str],  # noqa: F811
    engine: Engine,
    tweets: pd.DataFrame,  # noqa: F811
    cli_database: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_monitor(client, admin, upload_baseline(client, admin, tweets))
    rng = random.Random(0)
    outlets = sorted(set(tweets.outlet))
    chat = list(chatterbot().drop_duplicates("prompt").prompt.sample(300, random_state=0))
    pii = _pii_values()
    rows: list[dict[str, object]] = []

    def add(hour: int, i: int, prompt: str, prediction: str, label: str) -> None:
        ts = ORIGIN + hour * HOUR + timedelta(seconds=10 * i)
        rows.append({"model": "news-bot", "request_id": f"h{hour}-{i}", "prompt": prompt,
                     "output": f"about {prediction}", "prediction": prediction, "label": label,
                     "ts": ts.isoformat()})  # fmt: skip

    # Hour 0: calm, the model right. Hours 1 and 2: half of the traffic is chat the model
    # files under a news outlet (wrong labels), some of it carrying personal data.
    for i in range(300):
        add(0, i, tweets.text[600 + i], tweets.outlet[600 + i], tweets.outlet[600 + i])
    long_tweets = [t for t in tweets.text[900:1500] if len(t.split()) >= 8]
    originals = long_tweets[:SEEDED]
    for hour in (1, 2):
        for i in range(150):
            n = 150 * (hour - 1) + i
            extra = f" ({pii[n % len(pii)]})" if n < 2 * len(pii) else ""
            add(hour, i, chat[n] + extra, rng.choice(outlets), "chitchat")
    # Seeded near-duplicates: originals in hour 1, reworded copies at the end of hour 2
    # (where validation starts), all mislabelled so both are chosen for retraining.
    for k, text in enumerate(originals):
        add(1, 150 + k, text, "nytimeshealth", "goodhealth")
    copies = [reword(text, rng, rng.randint(1, 3)) for text in originals]
    for k, text in enumerate(copies):
        add(2, 300 + k, text, "nytimeshealth", "goodhealth")
    for i, t in enumerate(long_tweets[SEEDED : SEEDED + 110]):
        add(1, 190 + i, t, "cnnhealth", "cnnhealth")
        add(2, 190 + i, t + " today", "cnnhealth", "cnnhealth")
    post(client, admin, rows)
    work(engine, ORIGIN + 3 * HOUR)

    # What the plain export hands over: the reworded copies survive its lower-casing.
    plain = client.get("/v1/exports/retraining?model=news-bot&since=2026-11-01T00:00:00Z"
                       "&until=2026-11-02T00:00:00Z", headers=admin)  # fmt: skip
    plain_ids = {json.loads(line)["request_id"] for line in plain.text.splitlines()}
    reworded = {f"h2-{300 + k}" for k, (a, b) in enumerate(zip(originals, copies, strict=True))
                if re.findall(r"\w+", a.lower()) != re.findall(r"\w+", b.lower())}  # fmt: skip
    assert len(reworded) >= SEEDED / 2 and reworded <= plain_ids

    out = tmp_path / "ds"
    args = ["export", "dataset", "--model", "news-bot", "--since", "2026-11-01T00:00:00+00:00",
            "--until", "2026-11-02T00:00:00+00:00", "--for-version", "v2", "--out", str(out),
            "--system", "Classify the message."]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["for_version"] == "v2" and manifest["format"] == "chat-jsonl"
    counts = manifest["counts"]
    assert counts["near_duplicates_removed"] >= SEEDED
    assert counts["train"] > 0 and counts["validation"] > 0
    assert manifest["split"]["by"] == "time" and manifest["source"]["reasons"]
    assert f"wrote {counts['train']} train and {counts['validation']}" in result.output

    # No seeded pair across the halves.
    provenance = [json.loads(line) for line in (out / "provenance.jsonl").read_text().splitlines()]
    split_of = {p["request_id"]: p["split"] for p in provenance}
    crossing = [k for k in range(SEEDED)
                if {split_of.get(f"h1-{150 + k}"), split_of.get(f"h2-{300 + k}")}
                == {"train", "validation"}]  # fmt: skip
    assert crossing == []
    assert max(p["ts"] for p in provenance if p["split"] == "train") <= min(
        p["ts"] for p in provenance if p["split"] == "validation"
    )
    # Train is balanced: no class above 3x the rarest of 10 or more (stray ones are kept).
    train_classes = manifest["classes"]["train"]
    assert train_classes["chitchat"] == 3 * train_classes["goodhealth"], train_classes
    assert manifest["balanced_out"]["chitchat"] > 0

    # A trainer's view: `datasets` loads it, every line is a chat conversation.
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    loaded = datasets.load_dataset(
        "json",
        data_files={s: str(out / f"{s}.jsonl") for s in ("train", "validation")},
        cache_dir=str(tmp_path / "hf"),
    )
    assert loaded["train"].num_rows == counts["train"]
    assert loaded["validation"].num_rows == counts["validation"]
    for line in (out / "train.jsonl").read_text().splitlines():
        example = json.loads(line)
        assert list(example) == ["messages"]
        roles = [m["role"] for m in example["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert all(isinstance(m["content"], str) for m in example["messages"])
    written = "\n".join(p.read_text() for p in out.iterdir() if p.is_file())
    leaked = [v for v in pii if v in written]
    assert leaked == [] and "<EMAIL>" in written

    # Parquet in the Hugging Face layout loads from the directory alone.
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "already holds a dataset" in again.output
    pq_out = tmp_path / "pq"
    args[args.index(str(out))] = str(pq_out)
    result = CliRunner().invoke(cli, [*args, "--format", "parquet"])
    assert result.exit_code == 0, result.output
    table = datasets.load_dataset(str(pq_out), cache_dir=str(tmp_path / "hf"))
    assert table["validation"].num_rows == counts["validation"]
    assert table["train"][0]["messages"][1]["role"] == "user"

    # The loop closes: v2 is trained on it and reports its scores; its traffic is labelled.
    scores = {"version": "v2", "training": {"f1": 0.97}, "validation": {"f1": 0.91}}
    r = client.put("/v1/models/news-bot/metrics", headers=admin, json=scores)
    assert r.status_code == 200, r.text
    v2 = []
    for i in range(200):
        ts = ORIGIN + 3 * HOUR + timedelta(seconds=10 * i)
        outlet = tweets.outlet[1600 + i]
        v2.append({"model": "news-bot", "model_version": "v2", "request_id": f"v2-{i}",
                   "prompt": tweets.text[1600 + i], "output": "noted",
                   "prediction": outlet if i % 2 else rng.choice(outlets), "label": outlet,
                   "ts": ts.isoformat()})  # fmt: skip
    post(client, admin, v2)
    work(engine, ORIGIN + 4 * HOUR)
    status = client.get("/v1/models/news-bot/status", headers=admin).json()
    version = next(v for v in status["versions"] if v["version"] == "v2")
    assert version["training_f1"] == 0.97 and version["validation_f1"] == 0.91
    assert version["production_f1"] is not None and version["production_f1"] < 0.8
    assert version["dataset"]["train"] == counts["train"]
    assert version["dataset"]["format"] == "parquet"  # the newest export for v2


def _example(i: int, prompt: str, label: str | None, prediction: str = "a") -> dict[str, object]:
    return {"request_id": str(i), "model_version": "", "ts": f"2026-11-01T00:{i:02d}:00+00:00",
            "prompt": prompt, "output": f"out {i}", "prediction": prediction, "label": label,
            "reasons": ["wrong_label"] if label else ["novel"], "score": None}  # fmt: skip


SPEC = DatasetSpec(model="m", for_version="v2", since=ORIGIN, until=ORIGIN + HOUR)


def test_split_is_by_time_and_balancing_keeps_rare_classes_whole() -> None:
    rng = random.Random(0)
    words = [f"{a}{b}" for a in "bcdfghklmnprstvz" for b in ("a", "e", "i", "o", "u", "ay")]

    def prompt() -> str:  # random words: no two prompts near-duplicates
        return " ".join(rng.sample(words, 8))

    examples = [_example(i, prompt(), "big") for i in range(40)]
    examples += [_example(40 + i, prompt(), "small") for i in range(10)]
    examples.append(_example(59, prompt(), "stray"))
    split = split_examples(examples, SPEC)
    assert len(split.validation) == 10  # the newest 20%
    assert max(e["ts"] for e in split.train) < min(e["ts"] for e in split.validation)
    classes = Counter(example_class(e) for e in split.train)
    # Train before balancing: 40 big and 1 small (the rest are newer); "small" has
    # fewer than 10, so it neither caps nor is capped, and balancing leaves train alone.
    assert classes == {"big": 40, "small": 1}
    balanced = split_examples(examples, replace(SPEC, validation_share=0.0))
    assert Counter(example_class(e) for e in balanced.train) == {"big": 30, "small": 10, "stray": 1}
    assert balanced.balanced_out == {"big": 10}
    off = split_examples(examples, replace(SPEC, validation_share=0.0, max_class_ratio=0))
    assert len(off.train) == 51


def test_targets_are_labels_where_given_and_bad_specs_are_refused() -> None:
    labelled, unlabelled = _example(1, "p", "refund"), _example(2, "q", None)
    assert chat_messages(labelled, None)[-1] == {"role": "assistant", "content": "refund"}
    assert chat_messages(unlabelled, "sys")[0] == {"role": "system", "content": "sys"}
    assert chat_messages(unlabelled, None)[-1]["content"] == "out 2"
    only = split_examples([labelled, unlabelled], replace(SPEC, labelled_only=True))
    assert [e["request_id"] for e in only.train + only.validation] == ["1"]
    for bad, message in (
        ({"for_version": " "}, "for_version"),
        ({"validation_share": 1.0}, "validation_share"),
        ({"max_class_ratio": 0.5}, "max_class_ratio"),
        ({"near_duplicate_threshold": 0.0}, "near_duplicate_threshold"),
        ({"until": ORIGIN}, "since must be before until"),
    ):
        with pytest.raises(ValueError, match=message):
            replace(SPEC, **bad)
