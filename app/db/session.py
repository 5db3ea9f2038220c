"""Engine and session factory. One engine per process; sessions per request or job."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings


def make_engine(
    url: str, settings: Settings, *, pool_size: int | None = None, pre_ping: bool = True
) -> Engine:
    """Create the pooled engine.

    ``pool_pre_ping`` drops connections that died while PostgreSQL restarted, so the service
    recovers by itself; the connect timeout keeps requests from hanging when it is down.
    The ingest writers go without it (a round trip per transaction on the hot path): they
    retry once on a connection found dead instead, and recycle connections hourly.
    ``hide_parameters`` keeps bound values (prompts, outputs, key hashes) out of exception
    messages, and so out of every log line and traceback.
    """
    return create_engine(
        url,
        hide_parameters=True,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=0 if pool_size else settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=pre_ping,
        pool_recycle=-1 if pre_ping else 3600,
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
