"""Values reach SQL only as bound parameters.

SQL text may be assembled from the code's own constants (column lists, fixed fragments), never
from a value a request or a row supplied. This walks every f-string, ``%`` and ``.format`` that
builds SQL in app/ and migrations/ and fails on any interpolated name that is neither a
module constant (UPPER_CASE) nor in the reviewed list below.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|COPY|ALTER|CREATE|DROP|TRUNCATE)\b")
CONSTANT = re.compile(r"^_?[A-Z][A-Z0-9_]*$")

# (file, name) → why it can only hold the code's own text. Add only after checking.
REVIEWED = {
    ("app/exports/retraining.py", "union"):
        "fixed _CANDIDATES fragments, keys checked against REASONS first",
    # DDL takes no bind parameters: partition names and bounds are formatted from a date.
    ("app/db/partitions.py", "name"): "partition_name(day), a date formatted as events_pYYYYMMDD",
    ("app/db/partitions.py", "lo"): "datetime.combine(day, ...).isoformat()",
    ("app/db/partitions.py", "hi"): "lo + 1 day, isoformat()",
    ("app/jobs/retention.py", "name"): "names from day_partitions(), matched against _NAME",
    ("app/jobs/retention.py", "table"): "a name from day_partitions(), matched against _NAME",
    ("migrations/versions/20261126_8d3e6a41c7b2_partition_events_by_day_with_idempotency_keys.py",
     "day"): "a date from the database's own ts column, formatted %Y%m%d",
    ("migrations/versions/20261126_8d3e6a41c7b2_partition_events_by_day_with_idempotency_keys.py",
     "lo"): "datetime.combine(day, ...)",
}  # fmt: skip


def _names(node: ast.AST) -> set[str]:
    """Free names an interpolated expression reads (comprehension variables and the
    functions it calls excluded; their arguments still count)."""
    called = {
        c.func.id
        for c in ast.walk(node)
        if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
    }
    bound = called | {
        n.id
        for comp in ast.walk(node)
        if isinstance(comp, ast.comprehension)
        for n in ast.walk(comp.target)
        if isinstance(n, ast.Name)
    }
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - bound


def _interpolations(tree: ast.AST) -> list[tuple[int, str, set[str]]]:
    """(line, SQL snippet, names) for every SQL string built with interpolation."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            literal = "".join(
                v.value
                for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            if SQL.search(literal):
                names: set[str] = set()
                for v in node.values:
                    if isinstance(v, ast.FormattedValue):
                        names |= _names(v.value)
                found.append((node.lineno, literal.strip()[:60], names))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            if isinstance(node.left, ast.Constant) and SQL.search(str(node.left.value)):
                found.append((node.lineno, str(node.left.value)[:60], _names(node.right)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
            and SQL.search(str(node.func.value.value))
        ):
            args = set().union(
                *(_names(a) for a in [*node.args, *(k.value for k in node.keywords)])
            )
            found.append((node.lineno, str(node.func.value.value)[:60], args))
    return found


def test_sql_is_built_only_from_constants() -> None:
    offenders = []
    checked = 0
    used: set[tuple[str, str]] = set()
    for path in sorted([*ROOT.glob("app/**/*.py"), *ROOT.glob("migrations/**/*.py")]):
        where = str(path.relative_to(ROOT))
        for line, snippet, names in _interpolations(ast.parse(path.read_text())):
            checked += 1
            used |= {(where, name) for name in names}
            for name in names:
                if not CONSTANT.match(name) and (where, name) not in REVIEWED:
                    offenders.append(f"{where}:{line} {{{name}}} in {snippet!r}")
    assert checked >= 5, "the walk found no interpolated SQL at all: is it still looking?"
    assert set(REVIEWED) <= used, f"stale REVIEWED entries: {set(REVIEWED) - used}"
    assert not offenders, "SQL built from a non-constant; bind it as a parameter:\n" + "\n".join(
        offenders
    )


def test_the_check_catches_a_value_spliced_into_sql() -> None:
    bad = ast.parse(
        "def f(name):\n    return text(f\"SELECT * FROM events WHERE model = '{name}'\")"
    )
    ((_, _, names),) = _interpolations(bad)
    assert names == {"name"} and not CONSTANT.match("name")
    pct = ast.parse('q = "DELETE FROM events WHERE id = %s" % request_id')
    assert _interpolations(pct)[0][2] == {"request_id"}
