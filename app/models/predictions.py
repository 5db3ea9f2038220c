"""Prediction rules: how a model's prediction (the class label that label drift and the
quality checks compare with the ground truth) is read from its output when an event carries
none — typical of services traced with OpenTelemetry, which record only the answer.

One rule per model name: the whole output, a field of the output parsed as JSON, or the
first match of a regular expression (its group, when it has one). Events that carry a
prediction keep it; an output the rule does not match gets none (not an error).

Patterns are RE2 (``google-re2``), not Python's ``re``: rules run on the api's event loop for
every event, and RE2 matches in time linear in the text whatever the pattern, where a
backtracking engine lets one tenant's ``(a+)+$`` freeze every tenant's ingest. RE2 has no
backreferences or lookaround; a pattern using them is refused when the rule is set.
"""

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import orjson
import re2
from cachetools import TTLCache
from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.db.models import PredictionRule

log = logging.getLogger("driftline.predictions")

Source = Literal["output", "json", "regex"]
# A rule reads at most this much of an output: bounds a pattern's work on a 10 MB answer.
MAX_SCANNED_CHARS = 10_000
# The longest prediction kept (a label, not a paragraph).
MAX_PREDICTION_CHARS = 200
# Another api process sees a changed rule within this many seconds.
RULE_CACHE_SECONDS = 10.0
# Models whose rule (or its absence) one api process remembers.
RULE_CACHE_SIZE = 100_000
# A cached absence is None, so a miss needs a value of its own.
_MISSING = object()


@dataclass(frozen=True)
class Rule:
    """One model's rule; ``field`` is a dot path (``result.label``) for ``json``."""

    source: Source
    field: str | None = None
    pattern: str | None = None

    @cached_property
    def _regex(self) -> Any:  # an RE2 pattern (re2._Regexp), or None
        try:
            return compile_pattern(self.pattern or "")
        except ValueError as exc:  # stored before patterns were RE2: it reads nothing
            log.warning("prediction rule pattern %r is not RE2 (%s): ignored", self.pattern, exc)
            return None

    def apply(self, output: str) -> str | None:
        """The prediction this rule reads from ``output``, or None."""
        text = output[:MAX_SCANNED_CHARS]
        if self.source == "output":
            found: Any = text.strip()
        elif self.source == "json":
            found = _json_field(text, self.field or "")
        else:
            regex, found = self._regex, None
            match = regex.search(text) if regex is not None else None
            if match is not None:
                found = match.group(1) if regex.groups else match.group(0)
        if isinstance(found, bool | int | float) and not isinstance(found, bool):
            found = str(found)
        if not isinstance(found, str) or not found.strip():
            return None
        return found.strip()[:MAX_PREDICTION_CHARS]


def compile_pattern(pattern: str) -> Any:
    """An RE2 pattern (``re2._Regexp``); ValueError naming the problem when RE2 cannot take
    it."""
    options = re2.Options()
    options.log_errors = False  # the error is raised to the caller, not logged by RE2
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(
            f"{message} (patterns are RE2: linear-time matching, no backreferences or lookaround)"
        ) from None


def _json_field(text: str, path: str) -> Any:
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def rule_of(session: Session, model: str) -> PredictionRule | None:
    """The model's stored rule, or None."""
    return session.get(PredictionRule, model)


def set_rule(session: Session, model: str, rule: Rule) -> PredictionRule:
    """Store (or replace) the model's rule, and commit."""
    values = {"source": rule.source, "field": rule.field, "pattern": rule.pattern}
    stmt = (
        insert(PredictionRule)
        .values(model=model, **values)
        .on_conflict_do_update(
            index_elements=[PredictionRule.model],
            set_={**values, "updated_at": func.now()},
        )
        .returning(PredictionRule)
    )
    row = session.scalars(stmt, execution_options={"populate_existing": True}).one()
    session.commit()
    return row


def delete_rule(session: Session, model: str) -> bool:
    """Remove the model's rule, and commit; whether there was one."""
    gone = session.execute(
        delete(PredictionRule).where(PredictionRule.model == model).returning(PredictionRule.model)
    )
    found = gone.first() is not None
    session.commit()
    return found


class RuleCache:
    """Each model's rule (or its absence), cached per api process for RULE_CACHE_SECONDS:
    ingest looks rules up on every batch."""

    def __init__(self, ttl: float = RULE_CACHE_SECONDS) -> None:
        self._rules: TTLCache[str, Rule | None] = TTLCache(
            maxsize=RULE_CACHE_SIZE, ttl=ttl, timer=time.monotonic
        )
        self._lock = threading.Lock()

    def for_models(self, conn: Connection | Session, models: Iterable[str]) -> dict[str, Rule]:
        """The rules of those of ``models`` that have one."""
        fresh, missing = self._fresh(set(models))
        if missing:
            t = PredictionRule
            rows = conn.execute(
                select(t.model, t.source, t.field, t.pattern).where(t.model.in_(missing))
            )
            found = {r.model: Rule(r.source, r.field, r.pattern) for r in rows}
            loaded = {m: found.get(m) for m in missing}
            with self._lock:
                self._rules.update(loaded)
            fresh.update(loaded)
        return {m: rule for m, rule in fresh.items() if rule is not None}

    def cached(self, models: set[str]) -> dict[str, Rule] | None:
        """``for_models`` answered from the cache alone (no query), or None if it does not
        hold every model's rule (or its absence) fresh."""
        fresh, missing = self._fresh(models)
        if missing:
            return None
        return {m: rule for m, rule in fresh.items() if rule is not None}

    def _fresh(self, wanted: set[str]) -> tuple[dict[str, Rule | None], set[str]]:
        with self._lock:
            found = {m: self._rules.get(m, _MISSING) for m in wanted}
        fresh = {m: rule for m, rule in found.items() if rule is not _MISSING}
        return fresh, wanted - set(fresh)  # type: ignore[return-value]

    def forget(self, model: str) -> None:
        """Drop the cached entry (this process changed the rule)."""
        with self._lock:
            self._rules.pop(model, None)


def fill_predictions(rows: list[dict[str, Any]], rules: dict[str, Rule]) -> int:
    """Give each writer row without a prediction the one its model's rule reads from its
    output; how many got one."""
    filled = 0
    for row in rows:
        rule = rules.get(row["model"])
        if rule is not None and row.get("prediction") is None:
            row["prediction"] = rule.apply(row["output"])
            filled += row["prediction"] is not None
    return filled
