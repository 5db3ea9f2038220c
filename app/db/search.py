"""Text search in SQL: what a user types, matched literally."""

# The escape character the patterns below use (say ``ESCAPE '\\'`` or ``escape=LIKE_ESCAPE``).
LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """An (I)LIKE pattern matching values that contain ``text``: its ``%`` and ``_`` are
    literal characters, not wildcards."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
