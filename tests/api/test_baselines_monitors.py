"""Baseline uploads (JSON, JSONL, CSV) and monitor validation."""

import io
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.baselines.profiles import build_pending_profiles, load_profile
from app.datasets import health_tweets
from tests.conftest import auth


@pytest.fixture
def admin(make_key: Callable[..., str]) -> dict[str, str]:
    return auth(make_key("admin"))


def upload(client: TestClient, headers: dict[str, str], name: str, body: bytes, kind: str):  # type: ignore[no-untyped-def]
    filename = "holdout.csv" if kind == "csv" else "holdout.jsonl"
    return client.post(
        "/v1/baselines",
        data={"model": "bot", "name": name},
        files={"file": (filename, io.BytesIO(body), "text/plain")},
        headers=headers,
    )


def test_jsonl_and_csv_uploads_store_every_record(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    jsonl = (
        b'{"prompt": "a", "output": "b", "label": "x", "token_logprobs": [-0.5, -0.5]}\n'
        b'\n{"prompt": "c"}\n'
    )
    r = upload(client, admin, "j", jsonl, "jsonl")
    assert r.status_code == 202 and r.json()["record_count"] == 2
    csv = (
        b"prompt,output,prediction,label,score,metadata\n"
        b'"hi, there",yo,x,x,0.5,"{""k"": 1}"\nq,,y,x,,\n'
    )
    r = upload(client, admin, "c", csv, "csv")
    assert r.status_code == 202 and r.json()["record_count"] == 2
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT prompt, perplexity, metadata FROM baseline_records ORDER BY id")
        ).all()
    assert rows[0].perplexity == pytest.approx(1.6487, rel=1e-3)  # exp(0.5)
    assert rows[2].prompt == "hi, there" and rows[2].metadata == {"k": 1}


def test_a_bad_line_is_a_422_naming_it_and_nothing_is_stored(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    body = b'{"prompt": "ok"}\n{"prompt": "ok"}\n{"output": "no prompt"}\n'
    r = upload(client, admin, "bad", body, "jsonl")
    assert r.status_code == 422
    assert r.json()["error"]["message"].startswith("line 3.prompt")
    assert r.json()["error"]["details"][0]["line"] == 3
    r = upload(client, admin, "bad2", b'{"prompt": "ok"}\nnot json\n', "jsonl")
    assert r.status_code == 422 and "line 2" in r.json()["error"]["message"]
    r = upload(client, admin, "bad3", b"prompt,score\nx,7\n", "csv")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["line"] == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM baselines")).scalar_one() == 0


def test_json_baseline_and_duplicate_name_conflict(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = {"model": "bot", "name": "v1", "records": [{"prompt": "p", "output": "o"}]}
    assert client.post("/v1/baselines", json=body, headers=admin).status_code == 202
    again = client.post("/v1/baselines", json=body, headers=admin)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    listed = client.get("/v1/baselines?model=bot", headers=admin).json()["baselines"]
    assert [b["name"] for b in listed] == ["v1"]


def test_baseline_from_a_window_of_traffic_is_frozen_by_the_worker(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    texts = health_tweets(without_urls=True).text[:60]
    events = [
        {"model": "bot", "model_version": "v2" if i % 2 else "v1", "request_id": str(i),
         "prompt": t, "output": "o", "prediction": "a", "ts": f"2026-11-01T00:{i:02d}:00Z"}
        for i, t in enumerate(texts)
    ]  # fmt: skip
    assert client.post("/v1/events", json={"events": events}, headers=admin).status_code == 202
    fb = {"model": "bot", "request_id": "1", "label": "b"}
    assert client.post("/v1/feedback", json=fb, headers=admin).status_code == 202
    window = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:40:00Z"}
    r = client.post(
        "/v1/baselines/from-window",
        json={"model": "bot", "name": "frozen", **window},
        headers=admin,
    )
    # The request only registers the range: the worker copies the events, in one statement.
    assert r.status_code == 202, r.text
    assert r.json()["source"] == "window" and r.json()["status"] == "pending"
    v2 = client.post(
        "/v1/baselines/from-window",
        json={"model": "bot", "model_version": "v2", "name": "frozen-v2", **window},
        headers=admin,
    )
    assert v2.status_code == 202, v2.text
    assert build_pending_profiles(engine) == 2
    frozen = client.get(f"/v1/baselines/{r.json()['id']}", headers=admin).json()
    assert frozen["status"] == "ready" and frozen["record_count"] == 40, frozen
    assert frozen["summary"]["quality"]["accuracy"] == 0.0  # the one label said "b", not "a"
    only_v2 = client.get(f"/v1/baselines/{v2.json()['id']}", headers=admin).json()
    assert only_v2["status"] == "ready" and only_v2["record_count"] == 20  # the odd ones
    empty = client.post(
        "/v1/baselines/from-window",
        json={"model": "bot", "name": "none", "start": "2020-01-01T00:00:00Z",
              "end": "2020-01-02T00:00:00Z"},
        headers=admin,
    )  # fmt: skip
    assert empty.status_code == 422 and "no events" in empty.text


def test_monitor_validation_and_crud(client: TestClient, admin: dict[str, str]) -> None:
    body = {"model": "bot", "name": "v1", "records": [{"prompt": "p"}]}
    bid = client.post("/v1/baselines", json=body, headers=admin).json()["id"]
    bad = [
        ({"model": "bot", "baseline_id": bid, "window": "soon"}, "window"),
        ({"model": "bot", "baseline_id": bid, "checks": {"text_acu": 0.8}}, "text_acu"),
        # Another model's baseline and no baseline at all get the same answer (naming the
        # other model let one project list another's models by walking the ids).
        ({"model": "other", "baseline_id": bid}, f"model 'other' has no baseline {bid}"),
        ({"model": "bot", "baseline_id": 999}, "model 'bot' has no baseline 999"),
    ]
    for payload, needle in bad:
        r = client.post("/v1/monitors", json=payload, headers=admin)
        assert r.status_code == 422 and needle in r.text, r.text
    r = client.post(
        "/v1/monitors",
        json={"model": "bot", "baseline_id": bid, "window": "15m", "checks": {"text_auc": 0.8}},
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["window"] == "15m"
    # "checks" is the deprecated name of the field; responses use "thresholds".
    assert r.json()["thresholds"] == {"text_auc": 0.8} and "checks" not in r.json()
    mid = r.json()["id"]
    patched = client.patch(
        f"/v1/monitors/{mid}", json={"enabled": False, "window": "1h"}, headers=admin
    )
    assert patched.json()["enabled"] is False and patched.json()["window"] == "1h"
    assert patched.json()["thresholds"] == {"text_auc": 0.8}
    retuned = client.patch(
        f"/v1/monitors/{mid}", json={"thresholds": {"text_auc": 0.9}}, headers=admin
    )
    assert retuned.json()["thresholds"] == {"text_auc": 0.9}
    r = client.patch(f"/v1/monitors/{mid}", json={"thresholds": {"min_events": 5}}, headers=admin)
    assert r.status_code == 422 and "monitor's own setting" in r.text, r.text
    assert client.delete(f"/v1/monitors/{mid}", headers=admin).status_code == 204
    assert client.get(f"/v1/monitors/{mid}", headers=admin).status_code == 404


def test_a_baseline_profiles_the_same_whatever_order_its_rows_lie_in(
    client: TestClient, admin: dict[str, str], engine: Engine
) -> None:
    records = [{"prompt": t, "output": "ok"} for t in health_tweets(without_urls=True).text[:200]]
    ids = []
    for name in ("as-uploaded", "moved"):
        r = client.post(
            "/v1/baselines", json={"model": "bot", "name": name, "records": records}, headers=admin
        )
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    with engine.begin() as conn:  # new row versions go to the heap's end: a scan meets them last
        conn.execute(
            text(
                "UPDATE baseline_records SET output = output WHERE baseline_id = :b AND id % 3 = 0"
            ),
            {"b": ids[1]},
        )
        scanned = list(
            conn.execute(
                text("SELECT id FROM baseline_records WHERE baseline_id = :b"), {"b": ids[1]}
            ).scalars()
        )
    assert scanned != sorted(scanned)  # the table no longer holds them in upload order
    assert build_pending_profiles(engine) == 2
    with engine.connect() as conn:
        blobs = [
            conn.execute(text("SELECT profile FROM baselines WHERE id = :b"), {"b": b}).scalar_one()
            for b in ids
        ]
    a, b = (load_profile(blob) for blob in blobs)
    assert np.array_equal(a.embeddings, b.embeddings)
    assert a.records["prompt"].tolist() == b.records["prompt"].tolist()
