"""The database out of time or out of disk: a clear 503 naming the cause, nothing half-stored,
and recovery without a restart once the cause is gone."""

import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.auth.keys import create_key
from app.config import Settings
from app.db.migrate import upgrade
from app.db.session import make_sessionmaker, session_scope
from app.main import create_app
from tests.conftest import auth
from tests.pg import PrivatePostgres, libpq_url


def batch(start: int, n: int, prompt_bytes: int = 20) -> dict[str, Any]:
    # Random text: PostgreSQL compresses repetitive text too well to fill a disk with it.
    return {
        "events": [
            {"model": "m", "request_id": f"r{i}", "prompt": os.urandom(prompt_bytes // 2).hex(),
             "output": "o"}
            for i in range(start, start + n)
        ]
    }  # fmt: skip


def stored_ids(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT request_id FROM events")).scalars())
    finally:
        engine.dispose()


def test_statement_timeout_is_a_503_naming_it_and_the_retry_succeeds(
    database_url: str, make_key: Callable[..., str]
) -> None:
    # A migration or a manual ALTER holding the table: ingest must neither hang nor 500.
    settings = Settings(database_url=None, api_key_cache_seconds=60, db_statement_timeout_ms=300)
    headers = auth(make_key("ingest"))
    locker = psycopg.connect(libpq_url(database_url))
    with TestClient(create_app(database_url, settings), raise_server_exceptions=False) as client:
        assert client.get("/readyz").status_code == 200  # keys and pool warmed up
        locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        r = client.post("/v1/events", json=batch(0, 50), headers=headers)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == str(settings.retry_after_seconds)
        assert "statement timeout" in r.json()["error"]["message"]
        locker.rollback()
        r = client.post("/v1/events", json=batch(0, 50), headers=headers)
        assert r.status_code == 202 and r.json()["accepted"] == 50
    locker.close()
    assert len(stored_ids(database_url)) == 50


@pytest.fixture
def tiny_tablespace(private_pg: PrivatePostgres) -> Iterator[Path]:
    """A 2 MB tmpfs owned by the private server's user, for a tablespace that fills up."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if os.environ.get("CI"):
            pytest.fail("the disk-full test needs root and mount(8) under CI")
        pytest.skip("the disk-full test mounts a tmpfs: needs root and mount(8)")
    where = private_pg.dir / "tiny"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(where)], check=True)
    try:
        owner = pwd.getpwnam(private_pg.system_user)
        os.chown(where, owner.pw_uid, owner.pw_gid)
        yield where
    finally:
        private_pg.close()  # the server must let go of the files before the unmount
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_disk_full_is_a_503_naming_it_and_ingest_resumes_when_space_returns(
    private_pg: PrivatePostgres, tiny_tablespace: Path
) -> None:
    url = private_pg.url()
    upgrade(url)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE TABLESPACE tiny LOCATION '{tiny_tablespace}'"))
        # events is partitioned: move each partition, and the idempotency keys with them.
        parts = conn.execute(
            text("SELECT inhrelid::regclass::text FROM pg_inherits "
                 "WHERE inhparent = 'events'::regclass")
        ).scalars().all()  # fmt: skip
        for table in [*parts, "event_keys"]:
            conn.execute(text(f"ALTER TABLE {table} SET TABLESPACE tiny"))
    with session_scope(make_sessionmaker(engine)) as session:
        _, key = create_key(session, name="t", scopes=["ingest"])
    engine.dispose()
    headers = auth(key)
    acked: set[str] = set()
    refused: dict[str, Any] | None = None

    with TestClient(create_app(url, Settings()), raise_server_exceptions=False) as client:
        # ~1.2 MB per batch into a 2 MB tablespace: the third batch cannot fit.
        for start in range(0, 10_000, 200):
            r = client.post("/v1/events", json=batch(start, 200, 6_000), headers=headers)
            if r.status_code == 202:
                acked.update(r.json()["request_ids"])
                continue
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"]
            refused = r.json()["error"]
            break
        assert refused is not None, "the tablespace never filled up"
        assert "out of disk space" in refused["message"]
        assert stored_ids(url) == acked  # the refused batch left nothing behind

        subprocess.run(["mount", "-o", "remount,size=64M", str(tiny_tablespace)], check=True)
        r = client.post("/v1/events", json=batch(start, 200, 6_000), headers=headers)
        assert r.status_code == 202, r.text
        acked.update(r.json()["request_ids"])
    assert stored_ids(url) == acked and len(acked) >= 400
