"""Engine and session factory. One engine per process; sessions per request or job."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
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
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": settings.db_connect_timeout_seconds,
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
            "application_name": "driftline",
        },
    )


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
