"""A fuzzer over OTLP/JSON shapes: every node of a valid export (each object, list and value,
at every depth) replaced in turn by each kind of wrong JSON value. No body may give a 5xx:
a wrong shape is a 400 naming it, and a shape that still reads as an export is accepted."""

from collections.abc import Callable, Iterator
from typing import Any

import orjson
from fastapi.testclient import TestClient
from google.protobuf import json_format

from tests.conftest import auth
from tests.otlp.test_endpoint import URL, chat_span, export

WRONG: list[Any] = [None, 5, -1.5, True, "x", "", [], [1], {}, {"a": 1}, [[]], [{"x": [5]}]]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON tree (the root excluded)."""
    children: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    for key, child in children:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``doc`` with the node at ``path`` replaced."""
    copy = orjson.loads(orjson.dumps(doc))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def test_no_otlp_json_shape_gives_a_5xx(client: TestClient, make_key: Callable[..., str]) -> None:
    headers = {**auth(make_key("ingest")), "Content-Type": "application/json"}
    valid = json_format.MessageToDict(export(chat_span(1), chat_span(2)))
    tried: dict[int, int] = {}
    for path in paths(valid):
        for value in WRONG:
            body = orjson.dumps(replaced(valid, path, value))
            r = client.post(URL, content=body, headers=headers)
            tried[r.status_code] = tried.get(r.status_code, 0) + 1
            assert r.status_code < 500, (path, value, r.text)
    assert tried.get(400, 0) > 100 and tried.get(200, 0) > 10, tried
