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

# name → why it can only hold the code's own text. Add to this list only after checking.
REVIEWED = {
    "union": "exports: joins fixed _CANDIDATES fragments, keys checked against REASONS first",
    "features": "monitor runs: 'ef.' + each of the constant FEATURE_COLUMNS",
}


def _names(node: ast.AST) -> set[str]:
    """Free names an interpolated expression reads (comprehension variables excluded)."""
    bound = {
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
    used: set[str] = set()
    for path in sorted([*ROOT.glob("app/**/*.py"), *ROOT.glob("migrations/**/*.py")]):
        for line, snippet, names in _interpolations(ast.parse(path.read_text())):
            checked += 1
            used |= names
            for name in names:
                if not CONSTANT.match(name) and name not in REVIEWED:
                    offenders.append(f"{path.relative_to(ROOT)}:{line} {{{name}}} in {snippet!r}")
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
