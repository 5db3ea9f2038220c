"""Make incoming text fit to store.

Two things happen before any text reaches the database: what PostgreSQL's ``text`` cannot hold
(NUL, lone UTF-16 surrogates) becomes U+FFFD, and — with ``DRIFTLINE_REDACT_PII`` — emails,
phone numbers, card numbers, IBANs and IP addresses become typed placeholders (``<EMAIL>``…)
so the raw values are never written anywhere, not even to the write-ahead log.
"""

import re
from collections.abc import Iterable
from typing import Any

from app.engine.pii import scrub

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def replace_unstorable(value: Any) -> tuple[Any, bool]:
    """Replace NUL and lone surrogates with U+FFFD, deeply; also whether anything changed."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            return _UNSTORABLE.sub("\ufffd", value), True
        return value, False
    if isinstance(value, dict):
        changed = False
        out = {}
        for k, v in value.items():
            k2, ck = replace_unstorable(k)
            v2, cv = replace_unstorable(v)
            out[k2] = v2
            changed = changed or ck or cv
        return out, changed
    if isinstance(value, list):
        items = [replace_unstorable(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def redact_pii(value: Any) -> tuple[Any, int]:
    """Replace PII in every string of ``value`` (keys of mappings too); also how many spans."""
    if isinstance(value, str):
        clean, found = scrub(value)
        return clean, len(found)
    if isinstance(value, dict):
        total = 0
        out = {}
        for k, v in value.items():
            k2, nk = redact_pii(k)
            v2, nv = redact_pii(v)
            out[k2] = v2
            total += nk + nv
        return out, total
    if isinstance(value, list):
        items = [redact_pii(v) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0


def make_storable(
    row: dict[str, Any], *, free_text: Iterable[str], redact: bool, may_hold_nul: bool = True
) -> tuple[dict[str, Any], bool, int]:
    """``row`` ready to store: unstorable characters replaced everywhere and, with ``redact``,
    PII replaced in the ``free_text`` fields (prompts, outputs, labels, metadata — never ids).
    ``may_hold_nul=False`` (the caller knows the body held no NUL or surrogate escape) skips
    the deep walk for them, by far the larger cost.

    Returns the row, whether anything was replaced, and how many PII spans were redacted.
    """
    sanitized = False
    if may_hold_nul:
        row, sanitized = replace_unstorable(row)
    redacted = 0
    if redact:
        for field in free_text:
            row[field], n = redact_pii(row[field])
            redacted += n
    return row, sanitized, redacted
