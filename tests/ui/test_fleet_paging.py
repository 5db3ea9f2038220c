"""The fleet page of a large fleet: one bounded page at a time, searchable by name."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import auth

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def sign_in(client: TestClient, key: str) -> None:
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    r = client.post("/login", data={"key": key, "csrf": token.group(1), "next": "/"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-model="([^"]+)">', html)


def test_a_large_fleet_is_paged_and_searchable(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    names = [f"bot-{i:03d}{'-support' if i % 10 == 0 else ''}" for i in range(250)]
    events = [{"model": n, "prompt": "p", "output": "o"} for n in names]
    r = client.post("/v1/events", json={"events": events}, headers=auth(make_key("ingest")))
    assert r.status_code == 202
    sign_in(client, make_key("read"))

    first = client.get("/")
    assert first.status_code == 200 and len(rows(first.text)) == 100
    assert 'rel="next" href="/?page=1"' in first.text and "of 250" in first.text
    pages = [rows(client.get("/", params={"page": p}).text) for p in range(3)]
    assert [len(p) for p in pages] == [100, 100, 50]
    assert sorted(name for page in pages for name in page) == sorted(names)  # each once
    assert 'rel="next"' not in client.get("/", params={"page": 2}).text

    found = client.get("/", params={"q": "SUPPORT"})
    assert sorted(rows(found.text)) == [n for n in sorted(names) if "support" in n]
    none = client.get("/", params={"q": "<b>nothing</b>"})
    assert rows(none.text) == [] and "&lt;b&gt;nothing&lt;/b&gt;" in none.text
    refused = client.get("/", params={"page": -1})  # a page saying so, not JSON
    assert refused.status_code == 400 and "Not a valid address" in refused.text


def test_models_with_a_verdict_lead_then_the_rest_by_name_across_pages(
    client: TestClient, make_key: Callable[..., str], engine: Engine
) -> None:
    names = [f"bot-{i:03d}" for i in range(230)]
    events = [{"model": n, "prompt": "p", "output": "o"} for n in names]
    assert client.post("/v1/events", json={"events": events},
                       headers=auth(make_key("ingest"))).status_code == 202  # fmt: skip
    admin = auth(make_key("admin"))
    graded = {"bot-200": "ok", "bot-100": "drift", "zeta-monitored": "degraded"}
    for model, verdict in graded.items():
        records = b'{"prompt": "p", "output": "o"}\n{"prompt": "q", "output": "o"}'
        b = client.post("/v1/baselines", data={"model": model, "name": "b"},
                        files={"file": ("b.jsonl", records, "application/x-ndjson")},
                        headers=admin)  # fmt: skip
        m = client.post(
            "/v1/monitors",
            json={"name": model, "model": model, "window": "1h", "baseline_id": b.json()["id"]},
            headers=admin,
        )
        assert m.status_code == 201, m.text
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO monitor_runs (monitor_id, baseline_id, window_start, window_end,"
                    " status, verdict, n_events, results, finished_at) VALUES (:m, 0, :s, :e,"
                    " 'done', :v, 100, '{}'::jsonb, :e)"
                ),
                {"m": m.json()["id"], "s": T0, "e": T0 + timedelta(hours=1), "v": verdict},
            )
    # A monitor with no window yet: its model sorts by name with the unmonitored ones.
    b = client.post("/v1/baselines", data={"model": "bot-050", "name": "b"},
                    files={"file": ("b.jsonl", b'{"prompt": "p", "output": "o"}',
                                    "application/x-ndjson")}, headers=admin)  # fmt: skip
    assert (
        client.post(
            "/v1/monitors",
            json={
                "name": "bot-050",
                "model": "bot-050",
                "window": "1h",
                "baseline_id": b.json()["id"],
            },
            headers=admin,
        ).status_code
        == 201
    )
    sign_in(client, make_key("read"))

    pages = [rows(client.get("/", params={"page": p}).text) for p in range(3)]
    everyone = [name for page in pages for name in page]
    assert [len(p) for p in pages] == [100, 100, 31] and len(set(everyone)) == 231
    # Worst first (degraded, drift, then ok), then every other model by name.
    assert everyone[:3] == ["zeta-monitored", "bot-100", "bot-200"]
    assert everyone[3:] == sorted(set(names) - {"bot-100", "bot-200"})
    drift = client.get("/", params={"verdict": "drift"})
    assert rows(drift.text) == ["bot-100"]
    no_data = [rows(client.get("/", params={"verdict": "no_data", "page": p}).text)
               for p in range(2)]  # fmt: skip
    assert [len(p) for p in no_data] == [100, 100]
    assert "of 228" in client.get("/", params={"verdict": "no_data"}).text
    assert rows(client.get("/", params={"q": "ZETA"}).text) == ["zeta-monitored"]
