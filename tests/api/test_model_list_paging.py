"""GET /v1/models pages by name: a large fleet is pages, not one answer of every model."""

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import auth


def test_models_come_in_pages_by_name_and_can_be_searched(
    client: TestClient, make_key: Callable[..., str]
) -> None:
    names = [f"bot-{i:03d}{'-support' if i % 10 == 0 else ''}" for i in range(250)]
    events = [{"model": n, "prompt": "p", "output": "o"} for n in names]
    r = client.post("/v1/events", json={"events": events}, headers=auth(make_key("ingest")))
    assert r.status_code == 202, r.text
    read = auth(make_key("read"))

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/models", params=params, headers=read).json()
        seen += [m["name"] for m in body["models"]]
        assert all(m["versions"] and m["last_event_at"] for m in body["models"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == sorted(names)

    default = client.get("/v1/models", headers=read).json()
    assert len(default["models"]) == 100 and default["next_cursor"]
    found = client.get("/v1/models", params={"q": "SUPPORT"}, headers=read).json()
    assert [m["name"] for m in found["models"]] == [n for n in sorted(names) if "support" in n]
    assert client.get("/v1/models", params={"q": "%"}, headers=read).json()["models"] == []
    for bad in ({"cursor": "%%%"}, {"limit": 0}, {"limit": 5000}, {"q": "\x00"}):
        assert client.get("/v1/models", params=bad, headers=read).status_code == 422, bad
