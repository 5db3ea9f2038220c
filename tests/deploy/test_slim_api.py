"""The slim api image: `driftline api` without the engine and embedded extras serves every
kind of write and read, and the commands that need an extra say which one."""

import subprocess
import sys
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from tests.pg import key_at, migrated_database
from tests.processes import as_slim_api, driftline_api, driftline_env


@pytest.fixture(scope="module")
def slim(pg_server_url: str) -> Iterator[httpx.Client]:
    """A slim ``driftline api`` on a database of its own, with an admin key."""
    with migrated_database(pg_server_url, prefix="driftline_slim") as url:
        key = key_at(url.replace("postgresql://", "postgresql+psycopg://"), "admin", name="slim")
        with driftline_api(as_slim_api(driftline_env(url))) as (base, _):
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                yield client


def test_the_slim_api_takes_every_kind_of_write(slim: httpx.Client) -> None:
    events = [
        {"model": "bot", "request_id": f"r{i}", "prompt": f"question {i}", "output": "yes",
         "token_logprobs": [-0.1, -0.5, -0.2], "prediction": "yes", "ts": "2026-11-01T00:00:00Z"}
        for i in range(20)
    ]  # fmt: skip
    r = slim.post("/v1/events", json={"events": events})
    assert r.status_code == 202 and r.json()["accepted"] == 20, r.text
    single = {"model": "bot", "prompt": "hi", "output": "yo", "token_logprobs": [-1.0]}
    assert slim.post("/v1/events", json=single).status_code == 202
    assert (
        slim.post(
            "/v1/feedback", json={"model": "bot", "request_id": "r1", "label": "no"}
        ).status_code
        == 202
    )
    csv = "prompt,output,label\nwhere is it,here,a\nwhen,now,b\n"
    r = slim.post(
        "/v1/baselines", data={"model": "bot", "name": "csv"},
        files={"file": ("b.csv", csv.encode(), "text/csv")},
    )  # fmt: skip
    assert r.status_code == 202, r.text
    records = [{"prompt": "p", "output": "o", "token_logprobs": [-0.3]}]
    r = slim.post("/v1/baselines", json={"model": "bot", "name": "json", "records": records})
    assert r.status_code == 202, r.text
    window = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T01:00:00Z"}
    r = slim.post("/v1/baselines/from-window", json={"model": "bot", "name": "w", **window})
    assert r.status_code == 202, r.text
    r = slim.post(
        "/v1/monitors", json={"model": "bot", "baseline_id": r.json()["id"], "window": "1h"}
    )
    assert r.status_code == 201, r.text
    r = slim.put("/v1/models/bot/metrics", json={"version": "", "training": {"f1": 0.9}})
    assert r.status_code == 200, r.text
    export = "/v1/exports/retraining?model=bot&since=2026-10-01T00:00:00Z"
    for path in ("/v1/models", "/v1/models/bot/status", export, "/metrics", "/login", "/docs",
                 "/runbooks"):  # fmt: skip
        assert slim.get(path).status_code == 200, path


@pytest.mark.parametrize(("command", "extra"), [("worker", "engine"), ("up", "engine")])
def test_a_command_that_needs_an_extra_names_it(command: str, extra: str) -> None:
    env = as_slim_api(driftline_env("postgresql://nobody@127.0.0.1:1/none"))
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", command], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    assert f"pip install 'driftline[{extra}]'" in out.stderr, out.stderr
