"""The event tables are ready to be distributed by model (Citus, docs/scaling.md).

A distributed table's primary and unique keys must include its distribution column, and a
join between two distributed tables runs on the workers only when it is on that column. The
rules are checked on the migrated database's catalog (what users run), on the ORM models
(what autogenerate would emit), and on every SQL statement in app/ that joins one of them.
"""

import re
from pathlib import Path

from sqlalchemy import Engine, PrimaryKeyConstraint, UniqueConstraint, text

from app.db.models import Base

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTED = ("events", "event_keys", "feedback", "event_features")
COLUMN = "model"

_KEYS = text(
    """
    SELECT c.relname AS table, i.relname AS key, array_agg(a.attname::text) AS columns
    FROM pg_index x
    JOIN pg_class c ON c.oid = x.indrelid
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(x.indkey)
    WHERE (x.indisunique OR x.indisprimary) AND c.relname = ANY(:tables)
    GROUP BY c.relname, i.relname
    """
)

# "JOIN <table> <alias> ON <condition>" up to the next clause.
_JOIN = re.compile(
    r"\bJOIN\s+(?P<table>\w+)\s+(?:AS\s+)?(?P<alias>\w+)\s+ON\s+(?P<on>.*?)"
    r"(?=\b(?:LEFT|RIGHT|INNER|FULL|CROSS|JOIN|WHERE|GROUP|ORDER|LIMIT|UNION)\b|\)|\"|$)",
    re.S | re.I,
)


def _keys_without_model(keys: list[tuple[str, str, list[str]]]) -> list[str]:
    return [f"{table}.{key} {cols}" for table, key, cols in keys if COLUMN not in cols]


def _joins_off_model(source: str) -> list[str]:
    """Joins onto a distributed table whose condition does not match its model."""
    bad = []
    for m in _JOIN.finditer(source):
        table, alias, on = m["table"].lower(), m["alias"], m["on"]
        on_model = rf"\b{alias}\.{COLUMN}\s*=|=\s*{alias}\.{COLUMN}\b"
        if table in DISTRIBUTED and not re.search(on_model, on):
            bad.append(f"JOIN {table} {alias} ON {' '.join(on.split())}")
    return bad


def test_every_key_of_a_distributed_table_holds_the_model_in_the_database(
    engine: Engine,
) -> None:
    with engine.connect() as conn:
        rows = conn.execute(_KEYS, {"tables": list(DISTRIBUTED)}).all()
    assert {r.table for r in rows} == set(DISTRIBUTED)  # each has a key, so each is checked
    assert _keys_without_model([(r.table, r.key, r.columns) for r in rows]) == []


def test_every_key_of_a_distributed_table_holds_the_model_in_the_models() -> None:
    keys = [
        (name, c.name or type(c).__name__, [col.name for col in c.columns])
        for name in DISTRIBUTED
        for c in Base.metadata.tables[name].constraints
        if isinstance(c, PrimaryKeyConstraint | UniqueConstraint)
    ]
    keys += [
        (name, ix.name or "", [col.name for col in ix.columns])
        for name in DISTRIBUTED
        for ix in Base.metadata.tables[name].indexes
        if ix.unique
    ]
    assert _keys_without_model(keys) == []


def test_the_key_rule_fires_on_a_key_without_the_model() -> None:
    assert _keys_without_model([("feedback", "pk_feedback", ["id"])]) == [
        "feedback.pk_feedback ['id']"
    ]


def test_every_join_onto_a_distributed_table_is_on_the_model() -> None:
    bad = {
        p.relative_to(ROOT).as_posix(): joins
        for p in sorted((ROOT / "app").rglob("*.py"))
        if (joins := _joins_off_model(p.read_text()))
    }
    assert bad == {}


def test_the_join_rule_fires_on_a_join_off_the_model() -> None:
    bad = "SELECT * FROM events e LEFT JOIN event_features ef ON ef.event_id = e.id WHERE x"
    good = (
        "FROM events e LEFT JOIN feedback f ON f.model = e.model AND f.request_id = e.request_id"
        " JOIN event_features ef ON e.model = ef.model AND ef.event_id = e.id ORDER BY 1"
    )
    assert _joins_off_model(bad) == ["JOIN event_features ef ON ef.event_id = e.id"]
    assert _joins_off_model(good) == []
    # A join onto a table that is not distributed is not this rule's business.
    assert _joins_off_model("FROM events e JOIN monitors m ON m.id = e.id") == []
