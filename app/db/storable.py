"""Make incoming text fit to store.

Two things happen before any text reaches the database: what PostgreSQL's ``text`` cannot hold
(NUL, lone UTF-16 surrogates) becomes U+FFFD, and — with ``DRIFTLINE_REDACT_PII`` — emails,
phone numbers, card numbers, IBANs and IP addresses become typed placeholders (``<EMAIL>``…)
so the raw values are never written anywhere, not even to the write-ahead log.
"""

import re
from collections.abc import Callable, Iterable
from typing import Any

from app.engine.pii import scrub
from app.errors import DriftlineError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _map_strings(
    value: Any, fn: Callable[[str], tuple[str, int]], *, integers: bool = False
) -> tuple[Any, int]:
    """Apply ``fn`` to every string in ``value`` (mapping keys too), deeply; sum its counts.
    With ``integers``, whole numbers long enough to be a phone or card number are offered to
    ``fn`` as text too, and replaced by what it returns when it changed them.

    Recursive: metadata is at most 64 levels deep (``app.fields``), checked before this runs.
    """
    if isinstance(value, str):
        return fn(value)
    if integers and isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**6:
        text, n = fn(str(value))
        return (text, n) if n else (value, 0)
    if isinstance(value, dict):
        total = 0
        out = {}
        for k, v in value.items():
            k2, nk = _map_strings(k, fn)
            v2, nv = _map_strings(v, fn, integers=integers)
            out[k2] = v2
            total += nk + nv
        return out, total
    if isinstance(value, list):
        items = [_map_strings(v, fn, integers=integers) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0


def _replace_in(text: str) -> tuple[str, int]:
    if _UNSTORABLE.search(text):
        return _UNSTORABLE.sub("\ufffd", text), 1
    return text, 0


def _redact_in(text: str) -> tuple[str, int]:
    clean, found = scrub(text)
    return clean, len(found)


def replace_unstorable(value: Any) -> tuple[Any, bool]:
    """Replace NUL and lone surrogates with U+FFFD, deeply; also whether anything changed."""
    out, changed = _map_strings(value, _replace_in)
    return out, changed > 0


def redact_pii(value: Any) -> tuple[Any, int]:
    """Replace PII in every string of ``value`` (keys of mappings too) and in whole numbers
    inside it (``{"card": 4111111111111111}``); also how many spans."""
    return _map_strings(value, _redact_in, integers=True)


def refuse_pii_in_identifiers(row: dict[str, Any], fields: Iterable[str]) -> None:
    """With redaction on, an identifier holding personal data is refused (422), never stored
    or echoed back: scrubbing it would merge different events under one key (every e-mail
    becomes the same ``<EMAIL>``), and keeping it would store what redaction promised not
    to."""
    for field in fields:
        value = row.get(field)
        if isinstance(value, str) and value:
            kinds = scrub(value)[1]
            if kinds:
                raise DriftlineError(
                    422, "invalid_input",
                    f"{field}: holds personal data ({', '.join(sorted(set(kinds)))}); "
                    "DRIFTLINE_REDACT_PII is on, so identifiers must be opaque (e.g. a UUID)",
                )  # fmt: skip


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
