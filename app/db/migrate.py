"""Alembic, driven from code: upgrade to head and tell whether a database is current."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine

from app.db.locks import unlock, wait_for_lock

# A fixed key for pg_advisory_lock so that replicas starting together migrate one at a time.
_MIGRATION_LOCK_KEY = 0x44524946544C494E  # "DRIFTLIN"


def migrations_dir() -> Path:
    """The Alembic script folder: inside the wheel when installed, beside app/ in a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our scripts and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    # Alembic's config is ConfigParser-backed: a literal % must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def upgrade(url: str) -> None:
    """Migrate the database to head, holding an advisory lock against concurrent migrators,
    then make sure the coming days' partitions of ``events`` exist."""
    from app.db.partitions import ensure_day_partitions

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            wait_for_lock(conn, _MIGRATION_LOCK_KEY)
            try:
                cfg = alembic_config(url)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                unlock(conn, _MIGRATION_LOCK_KEY)
                conn.commit()
        ensure_day_partitions(engine)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
