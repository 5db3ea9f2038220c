"""The fleet page of a large fleet: one bounded page at a time, searchable by name."""

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import auth


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
    assert client.get("/", params={"page": -1}).status_code == 422
