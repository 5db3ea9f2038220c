"""Engine and session factory. One engine per process; sessions per request or job."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings


def make_engine(url: str, settings: Settings) -> Engine:
    """Create the pooled engine.

    ``pool_pre_ping`` drops connections that died while PostgreSQL restarted, so the service
    recovers by itself; the connect timeout keeps requests from hanging when it is down.
    ``hide_parameters`` keeps bound values (prompts, outputs, key hashes) out of exception
    messages, and so out of every log line and traceback.
    """
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        **_engine_options(settings),
    )


def make_ingest_engine(url: str, settings: Settings) -> AsyncEngine:
    """The ingest writers' engine (app.ingest): psycopg's async connections, one per writer,
    used from the event loop — a writer thread waited on the loop for the GIL after every
    statement. No pre-ping (a round trip per transaction on the hot path): the writers retry
    once on a connection found dead instead, and recycle connections hourly. Otherwise as
    ``make_engine``."""
    return create_async_engine(
        url,
        pool_size=settings.ingest_writers,
        max_overflow=0,
        pool_recycle=3600,
        **_engine_options(settings),
    )


def _engine_options(settings: Settings) -> dict[str, Any]:
    return {
        "hide_parameters": True,
        "pool_timeout": settings.db_pool_timeout_seconds,
        "connect_args": {
            "connect_timeout": settings.db_connect_timeout_seconds,
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
            "application_name": "driftline",
        },
    }


def make_read_engine(settings: Settings, primary: Engine) -> Engine:
    """The engine for reads that may come from a streaming replica: one on
    ``DRIFTLINE_READ_DATABASE_URL`` when set, else ``primary`` itself."""
    if not settings.read_database_url:
        return primary
    return make_engine(settings.read_database_url, settings)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (responses are built after it)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error (for jobs and the CLI)."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
