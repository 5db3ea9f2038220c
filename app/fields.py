"""Field types every input schema shares, bounded like the columns they are stored in."""

import unicodedata
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

# Identifiers must not hold NUL (text elsewhere is sanitised; a name is refused instead).
NAME_MAX_LENGTH = 200
NO_NUL = r"^[^\x00]*$"
# Characters that make two names look alike: controls, zero-width and other format
# characters, line and paragraph separators.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


# Checked on every ingested event (both ingest paths): names repeat, so a checked name is
# remembered (~0.05 µs instead of ~2 µs); a refused one raises and is not cached.
@lru_cache(maxsize=4096)
def plain_name(value: str) -> str:
    """``value`` if it is a name people can tell apart: no leading or trailing space, no
    invisible character, already in Unicode NFKC form (no fullwidth letters, ligatures or
    other compatibility look-alikes); ValueError naming the problem otherwise. Without it
    "bot", "bot ", "b\u200bot" and a fullwidth "bot" were four models, a name could be
    squatted by its look-alike, and one service's events scattered over several."""
    if value != value.strip():
        raise ValueError("a name must not start or end with whitespace")
    hidden = next((c for c in value if unicodedata.category(c) in INVISIBLE_CATEGORIES), None)
    if hidden is not None:
        raise ValueError(f"a name must not hold invisible characters (U+{ord(hidden):04X})")
    normal = unicodedata.normalize("NFKC", value)
    if normal != value:
        raise ValueError(f"a name must be in Unicode NFKC form: {normal!r}, not {value!r}")
    return value


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NO_NUL),
    AfterValidator(plain_name),
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NO_NUL)]

MAX_METADATA_KEYS = 256
# Nesting of metadata: far beyond any real use, and well inside what every serialiser on
# the way to the database handles (orjson writes at most 254 levels).
MAX_METADATA_DEPTH = 64
# Timestamps further ahead than this are clock bugs, not traffic; refuse them loudly.
MAX_FUTURE_SKEW = timedelta(hours=24)
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)


def nesting_depth(value: Any) -> int:
    """Levels of objects/arrays in a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` if it has at most MAX_METADATA_KEYS keys and MAX_METADATA_DEPTH levels;
    ValueError saying which limit it breaks otherwise."""
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"{len(value)} keys; at most {MAX_METADATA_KEYS}")
    # Most metadata is flat (one level): skip the walk, a hot spot of batch validation.
    if not any(type(v) is dict or type(v) is list for v in value.values()):
        return value
    depth = nesting_depth(value)
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"nested {depth} levels deep; at most {MAX_METADATA_DEPTH}")
    return value


def as_utc(value: datetime) -> datetime:
    """``value``, a naive time taken as UTC (as everywhere in the API)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def plausible_ts(value: datetime) -> datetime:
    """``value`` in UTC if naive, when not before 2000 nor more than a day ahead; ValueError
    otherwise."""
    value = as_utc(value)
    if value < EARLIEST_TS:
        raise ValueError("timestamp before 2000-01-01")
    if value > datetime.now(UTC) + MAX_FUTURE_SKEW:
        raise ValueError("timestamp more than 24 hours in the future (check the clock)")
    return value


# Free-form metadata: at most MAX_METADATA_KEYS keys and MAX_METADATA_DEPTH levels.
Metadata = Annotated[dict[str, Any], AfterValidator(bounded_metadata)]
# Any time a client sends: naive means UTC.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
# A client's timestamp: naive means UTC; not before 2000, not more than a day ahead.
PlausibleTs = Annotated[datetime, AfterValidator(plausible_ts)]
