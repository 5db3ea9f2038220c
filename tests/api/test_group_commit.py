"""Group commit: concurrent ingest requests share transactions, and each still gets its own
true answer — duplicates per request, another project's model failing only its request, a
row the database refuses failing only its request, a bounded queue, a drained shutdown."""

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from app.auth.keys import create_key
from app.auth.projects import create_project
from app.config import Settings
from app.db.session import make_sessionmaker, session_scope
from app.db.writers import COPY_MIN_ROWS
from app.main import create_app
from tests.conftest import auth


def _event(i: int | str, model: str = "bot", prompt: str = "hello") -> dict[str, Any]:
    return {"model": model, "request_id": f"r-{i}", "prompt": prompt, "output": "hi"}


async def _post_all(app: FastAPI, key: str, bodies: list[Any]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        return list(
            await asyncio.gather(*(c.post("/v1/events", json=b, headers=auth(key)) for b in bodies))
        )


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        return await c.get(path)


def _stored(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT request_id FROM events"))}


def test_concurrent_singles_share_commits_and_each_hears_its_own_duplicates(
    app: FastAPI, make_key: Callable[..., str], engine: Engine
) -> None:
    key = make_key("ingest")
    bodies: list[Any] = [_event(i) for i in range(60)]
    bodies += [_event(0), {"events": [_event(1), _event(1000)]}]  # repeats of r-0 and r-1
    answers = asyncio.run(_post_all(app, key, bodies))
    assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
    results = [a.json() for a in answers]
    assert sum(r["accepted"] for r in results) == 61 and sum(r["duplicates"] for r in results) == 2
    assert all(r["accepted"] + r["duplicates"] == len(r["request_ids"]) for r in results)
    assert _stored(engine) == {f"r-{i}" for i in range(60)} | {"r-1000"}
    stats = app.state.driftline.ingest.stats
    assert stats.requests == 62 and stats.groups < 62  # shared transactions
    # Operators see the sharing: a histogram of events per group.
    metrics = asyncio.run(_get(app, "/metrics")).text
    count = next(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("driftline_ingest_group_events_count")
    )
    assert count >= stats.groups


def test_another_projects_model_fails_only_its_own_request(app: FastAPI, engine: Engine) -> None:
    keys = {}
    with session_scope(make_sessionmaker(engine)) as session:
        for name in ("alpha", "beta"):
            project = create_project(session, name)
            _, keys[name] = create_key(session, name=name, scopes=["ingest"],
                                       project_id=project.id)  # fmt: skip
    theirs = asyncio.run(_post_all(app, keys["alpha"], [_event("x", model="their-bot")]))
    assert theirs[0].status_code == 202
    bodies = [_event(i) for i in range(20)] + [_event("stolen", model="their-bot")]
    answers = asyncio.run(_post_all(app, keys["beta"], bodies))
    assert [a.status_code for a in answers] == [202] * 20 + [404]
    assert _stored(engine) == {f"r-{i}" for i in range(20)} | {"r-x"}
    # Again, every owner now known to the process: the groups are written without asking
    # the database who owns what (app.ingest's one-statement path), with the same answers.
    bodies = [_event(i) for i in range(15, 25)] + [_event("stolen-2", model="their-bot")]
    answers = asyncio.run(_post_all(app, keys["beta"], bodies))
    assert [a.status_code for a in answers] == [202] * 10 + [404]
    assert [a.json()["duplicates"] for a in answers[:10]] == [1] * 5 + [0] * 5
    assert _stored(engine) == {f"r-{i}" for i in range(25)} | {"r-x"}


@pytest.mark.parametrize("writers", [1, 2])
def test_a_row_the_database_refuses_fails_only_its_request(
    writers: int, database_url: str, make_key: Callable[..., str], engine: Engine
) -> None:
    # One writer: the requests queued behind the first make one group, large enough for the
    # COPY path; two: smaller groups, the one-statement path.
    settings = Settings(database_url=None, ingest_writers=writers)
    app = create_app(database_url, settings)
    # An operator's rule the validator does not know: the database alone refuses the row.
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.prompt = 'poison' THEN RAISE EXCEPTION 'poisoned prompt'; END IF; "
            "RETURN NEW; END $$"
        ))  # fmt: skip
        conn.execute(text("CREATE TRIGGER refuse_poison BEFORE INSERT ON events "
                          "FOR EACH ROW EXECUTE FUNCTION refuse_poison()"))  # fmt: skip
    try:
        # Writers held while the requests arrive: the poisoned one (last) shares a group.
        released = threading.Event()
        stall_writers(engine, released)
        threading.Timer(0.5, released.set).start()
        # The poisoned request first: it is in the first group a writer takes, which holds
        # what queued meanwhile — more than COPY_MIN_ROWS events, so the COPY path.
        n, size = 30, COPY_MIN_ROWS // 10  # requests of `size` events
        bodies: list[Any] = [_event("p", prompt="poison")] + [
            {"events": [_event(f"{j}-{i}") for i in range(size)]} for j in range(n)
        ]
        answers = asyncio.run(_post_all(app, make_key("ingest"), bodies))
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_poison ON events"))
            conn.execute(text("DROP FUNCTION refuse_poison()"))
    codes = [a.status_code for a in answers]
    assert codes[0] >= 400 and codes[1:] == [202] * n, answers[0].text
    assert _stored(engine) == {f"r-{j}-{i}" for j in range(n) for i in range(size)}
    assert app.state.driftline.ingest.stats.split_groups >= 1


def stall_writers(engine: Engine, released: threading.Event) -> None:
    """Hold a lock on event_keys (every write needs it) until ``released`` is set."""
    blocker = engine.connect()
    tx = blocker.begin()
    blocker.execute(text("LOCK TABLE event_keys IN EXCLUSIVE MODE"))

    def release_later() -> None:
        released.wait(30)
        tx.rollback()
        blocker.close()

    threading.Thread(target=release_later, daemon=True).start()


@pytest.fixture
def small_queue_app(database_url: str) -> FastAPI:
    settings = Settings(database_url=None, api_key_cache_seconds=0, ingest_queue_max_events=5,
                        ingest_writers=2, retry_after_seconds=2)  # fmt: skip
    return create_app(database_url, settings)


def test_a_full_queue_answers_503_and_shutdown_writes_what_was_queued(
    small_queue_app: FastAPI, make_key: Callable[..., str], engine: Engine
) -> None:
    key = make_key("ingest")
    committer = small_queue_app.state.driftline.ingest
    released = threading.Event()
    stall_writers(engine, released)

    async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=small_queue_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            # Both writers take a request and get stuck on the lock (polling the committer's
            # own counters), then five more fill the queue.
            first = []
            for i in range(2):
                first.append(
                    asyncio.ensure_future(c.post("/v1/events", json=_event(i), headers=auth(key)))
                )
                while committer._in_flight <= i:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            queued = [
                asyncio.ensure_future(c.post("/v1/events", json=_event(i), headers=auth(key)))
                for i in range(2, 7)
            ]
            while committer._queued_rows < 5:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            refused = await c.post("/v1/events", json=_event(99), headers=auth(key))
            closing = asyncio.ensure_future(committer.close())
            await asyncio.sleep(0.05)
            late = await c.post("/v1/events", json=_event(100), headers=auth(key))
            released.set()
            await closing
            return [*[await q for q in first + queued], late], refused

    answers, refused = asyncio.run(scenario())
    assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
    assert "waiting to be written" in refused.json()["error"]["message"]
    assert [a.status_code for a in answers[:7]] == [202] * 7  # drained on shutdown
    assert answers[7].status_code == 503  # arrived while shutting down
    assert _stored(engine) == {f"r-{i}" for i in range(7)}


@pytest.mark.timeout(60)
def test_shutdown_waits_for_a_write_in_flight_while_another_writer_idles(
    app: FastAPI, make_key: Callable[..., str], engine: Engine
) -> None:
    key = make_key("ingest")
    committer = app.state.driftline.ingest
    released = threading.Event()
    stall_writers(engine, released)

    async def scenario() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            stuck = asyncio.ensure_future(c.post("/v1/events", json=_event(0), headers=auth(key)))
            while committer._in_flight == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            threading.Timer(0.3, released.set).start()
            await committer.close()  # the second writer idles meanwhile
            return await stuck

    assert asyncio.run(scenario()).status_code == 202
    assert _stored(engine) == {"r-0"}


def test_every_model_version_is_registered_once_its_batch_commits(
    app: FastAPI, make_key: Callable[..., str], engine: Engine
) -> None:
    # Batches large enough for the COPY path; the committer skips registering the versions
    # it has committed before, and must still register each new one.
    key = make_key("ingest")

    def batch(start: int, versions: list[str]) -> dict[str, Any]:
        return {"events": [{**_event(start + i), "model_version": versions[i % len(versions)]}
                           for i in range(COPY_MIN_ROWS)]}  # fmt: skip

    for body in (batch(0, ["v1"]), batch(1000, ["v1", "v2"]), batch(2000, ["v2"]),
                 batch(3000, ["v1", "v3"])):  # fmt: skip
        [answer] = asyncio.run(_post_all(app, key, [body]))
        assert answer.status_code == 202, answer.text
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version FROM models WHERE name = 'bot'")).scalars()
        assert sorted(versions) == ["v1", "v2", "v3"]
