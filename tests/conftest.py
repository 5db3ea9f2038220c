"""Fixtures: a real PostgreSQL database per test run, an app bound to it, and API keys."""

import os
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from app.auth.keys import create_key, revoke_key
from app.config import Settings
from app.db.session import make_sessionmaker, session_scope
from app.main import create_app
from tests.pg import PrivatePostgres, configured_server_url, migrated_database
from tests.processes import driftline_api, driftline_env

# Emptying the shared database between tests: DELETE from every table and restart every
# sequence. TRUNCATE did the same in ~0.5 s a test (a new file for each table, partition and
# index); DELETE of a test's few rows takes ~3 ms. Foreign-key triggers are skipped
# (session_replication_role, as the superuser the tests run as) since every table is emptied.
_EMPTY_TABLES = text(
    """
    DO $$
    DECLARE t text;
    BEGIN
      SET LOCAL session_replication_role = replica;
      FOR t IN SELECT c.oid::regclass::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND c.relname <> 'alembic_version'
      LOOP EXECUTE 'DELETE FROM ' || t; END LOOP;
      FOR t IN SELECT c.oid::regclass::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind = 'S'
      LOOP PERFORM setval(t, 1, false); END LOOP;
    END $$
    """
)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """The test server: DRIFTLINE_TEST_DATABASE_URL, else an embedded one for this run."""
    url = configured_server_url()
    if url:
        yield url
        return
    if os.environ.get("CI"):
        pytest.fail("CI must set DRIFTLINE_TEST_DATABASE_URL (see .ci/run)")
    server = PrivatePostgres()
    try:
        yield server.url("postgres")
    finally:
        server.close()


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """A migrated throwaway database for this test run."""
    with migrated_database(pg_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine for assertions straight against the tables."""
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> None:
    """Each test that touches the shared database starts from empty tables (and ids from 1)."""
    if "database_url" not in request.fixturenames:
        return
    eng: Engine = request.getfixturevalue("engine")
    with eng.begin() as conn:
        conn.execute(_EMPTY_TABLES)


@pytest.fixture
def settings() -> Settings:
    """Default settings with no environment influence beyond the defaults."""
    return Settings(database_url=None, api_key_cache_seconds=0)


@pytest.fixture
def app(database_url: str, settings: Settings) -> FastAPI:
    """The app on the test database."""
    return create_app(database_url, settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client for the app that reports server errors as responses, as users see them."""
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def make_key(engine: Engine) -> Callable[..., str]:
    """``make_key("ingest", "read")`` → a new plaintext key with those scopes."""

    def make(*scopes: str, revoked: bool = False) -> str:
        with session_scope(make_sessionmaker(engine)) as session:
            row, key = create_key(session, name="test", scopes=list(scopes))
            if revoked:
                revoke_key(session, key_id_or_prefix=str(row.id))
        return key

    return make


def auth(key: str) -> dict[str, str]:
    """Authorization header for a key."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def ingest_headers(make_key: Callable[..., str]) -> dict[str, str]:
    """Headers with a key that may ingest and read."""
    return auth(make_key("ingest", "read"))


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of the test's own, which it may stop and start."""
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def driftline(database_url: str) -> Iterator[str]:
    """A real ``driftline api`` process on the test database; yields its base URL."""
    with driftline_api(driftline_env(database_url)) as (base, _):
        yield base


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests (servers, subprocesses, the soak) first. Spread over pytest-xdist's workers,
    a long test collected last is the whole run's tail; started first, quick tests fill in
    around it (longest first, the classic scheduling rule). Otherwise the order is kept."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
