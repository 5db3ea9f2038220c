"""The layout is the architecture (docs/architecture.md): checked, not just described.

- ``app/monitoring/`` is the only package with SQL on the run tables: no other module under
  ``app/`` names ``monitor_runs``, ``monitor_run_revisions``, ``metric_values`` or
  ``window_rollups`` in a string,
  or queries their ORM classes.
- ``app/engine`` imports nothing of ``app`` but itself.
- Nothing outside ``app/api`` (but ``app/main.py``) imports ``app.api``: ruff's banned-api
  rule (TID251, in pyproject.toml) enforces it in ``make test``; the test below checks that
  the rule is configured and fires.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
RUN_TABLES = re.compile(r"\b(monitor_runs|monitor_run_revisions|metric_values|window_rollups)\b")
RUN_MODELS = {"MonitorRun", "MonitorRunRevision", "MetricValueRow", "WindowRollup"}
QUERYING = {"select", "get", "query", "delete", "update", "insert", "scalars", "execute"}
OWNERS = {APP / "monitoring", APP / "db" / "models.py"}


def run_table_access(source: str) -> list[str]:
    """Lines of ``source`` that touch the run tables: SQL naming them, or an ORM query
    (select/get/... called with one of their classes)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if RUN_TABLES.search(node.value):
                found.append(f"line {node.lineno}: SQL names a run table")
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            args = [a for a in node.args if isinstance(a, ast.Name | ast.Attribute)]
            names = {a.id if isinstance(a, ast.Name) else a.attr for a in args}
            if name in QUERYING and names & RUN_MODELS:
                found.append(f"line {node.lineno}: {name}() on {sorted(names & RUN_MODELS)}")
    return found


def owned(path: Path) -> bool:
    return any(path == o or o in path.parents for o in OWNERS)


def test_only_app_monitoring_touches_the_run_tables() -> None:
    offenders = {
        str(p.relative_to(ROOT)): hits
        for p in sorted(APP.rglob("*.py"))
        if not owned(p) and (hits := run_table_access(p.read_text()))
    }
    assert offenders == {}


def test_the_check_would_catch_sql_and_orm_access() -> None:
    assert run_table_access('q = "SELECT id FROM monitor_runs"')
    assert run_table_access("session.get(MonitorRun, 1)")
    assert run_table_access("select(models.MetricValueRow)")
    assert not run_table_access('q = "SELECT id FROM monitors"')


def test_importing_app_api_from_below_fails_the_lint() -> None:
    probe = APP / "jobs" / "_probe_import_direction.py"
    probe.write_text('"""Probe."""\n\nfrom app.api.errors import ERROR_RESPONSES\n')
    try:
        out = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--no-cache", str(probe)],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
    finally:
        probe.unlink()
    assert out.returncode != 0 and "TID251" in out.stdout, out.stdout + out.stderr


def outside_imports(source: str, package: str) -> list[str]:
    """Imports in ``source`` of ``app`` modules outside ``package``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [
            f"line {node.lineno}: {n}"
            for n in names
            if (n == "app" or n.startswith("app.")) and not n.startswith(package + ".")
            and n != package
        ]  # fmt: skip
    return found


def test_the_engine_imports_nothing_of_the_app_but_itself() -> None:
    """``app/engine`` is pure statistics on DataFrames: no database, api or settings."""
    offenders = {
        str(p.relative_to(ROOT)): hits
        for p in sorted((APP / "engine").rglob("*.py"))
        if (hits := outside_imports(p.read_text(), "app.engine"))
    }
    assert offenders == {}


def test_the_engine_rule_would_catch_an_import() -> None:
    assert outside_imports("from app.db.models import Baseline", "app.engine")
    assert outside_imports("import app.config", "app.engine")
    assert not outside_imports("from app.engine.stats import floor_at", "app.engine")


# ---- routers without SQL -------------------------------------------------------------------

SESSION_CALLS = {"execute", "scalars", "scalar", "commit", "flush", "rollback"}
SESSION_OBJECT_CALLS = {"get", "add", "delete", "merge"}  # only on a name like "session"
STATEMENTS = {"select", "text", "insert", "update", "delete"}
# Files of app/api allowed to run statements themselves: none. (It was a ratchet while the
# routers moved their queries into their domain services; a file may never join it again.)
STILL_RUNNING_SQL: set[str] = set()


def statements_run(source: str) -> list[str]:
    """Lines of ``source`` that build or execute SQL, or commit: a statement function
    called (``select(...)``), or a session/connection method (``.execute``, ``.commit``,
    ``session.get``...)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        if isinstance(fn, ast.Name) and fn.id in STATEMENTS:
            found.append(f"line {node.lineno}: {fn.id}()")
        elif isinstance(fn, ast.Attribute):
            owner = fn.value.id if isinstance(fn.value, ast.Name) else ""
            if fn.attr in SESSION_CALLS or (
                fn.attr in SESSION_OBJECT_CALLS and owner in ("session", "conn", "s")
            ):
                found.append(f"line {node.lineno}: .{fn.attr}()")
    return found


def test_routers_leave_sql_and_commits_to_their_domain_services() -> None:
    running = {
        str(p.relative_to(ROOT))
        for p in sorted((APP / "api").rglob("*.py"))
        if statements_run(p.read_text())
    }
    assert running - STILL_RUNNING_SQL == set(), "new SQL in app/api: call a domain service"
    assert STILL_RUNNING_SQL - running == set(), "clean now: remove it from STILL_RUNNING_SQL"


def test_the_router_rule_would_catch_sql_and_commits() -> None:
    assert statements_run("rows = session.scalars(select(Model))")
    assert statements_run("session.commit()")
    assert statements_run("conn.execute(text('SELECT 1'))")
    assert statements_run("m = session.get(Monitor, 1)")
    assert not statements_run("monitor = monitors.get_monitor(session, 1, project=None)")
    assert not statements_run("value = headers.get('x')")


# ---- metrics read through the domain services ----------------------------------------------


def test_metrics_read_model_health_through_the_domain_services() -> None:
    """``app/metrics`` builds no statement: the collector asks ``runs``, ``versions`` and the
    featuriser, so a rule about what a window or a version means lives in one place."""
    offenders = {
        str(p.relative_to(ROOT)): hits
        for p in sorted((APP / "metrics").rglob("*.py"))
        if (hits := statements_run(p.read_text()))
    }
    assert offenders == {}


def test_process_metrics_import_nothing_of_the_app() -> None:
    """Bumping a counter on the ingest path imports no service (it once pulled in runs)."""
    assert outside_imports((APP / "metrics" / "process.py").read_text(), "app.metrics") == []
