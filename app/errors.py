"""The one error Driftline's services raise: an HTTP status, a stable code and a message.

It lives below the api so that services, the worker and the CLI can raise and catch it
without importing the web layer; ``app.api.errors`` renders it.
"""

from typing import Any


class DriftlineError(Exception):
    """An error with an HTTP status, a stable machine code and a human message."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def format_loc(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """``("events", 3, "prompt")`` → ``events[3].prompt``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_details(errors: list[Any], *, drop_body: bool = False) -> list[dict[str, Any]]:
    """Pydantic errors as ``[{field, message, index?}]`` naming each offending field."""
    details = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if drop_body and loc and loc[0] == "body":
            loc = loc[1:]
        item: dict[str, Any] = {"field": format_loc(loc) or "body", "message": err.get("msg")}
        ints = [p for p in loc if isinstance(p, int)]
        if ints:
            item["index"] = ints[0]
        details.append(item)
    return details


def invalid_input(errors: list[Any], *, drop_body: bool = False) -> DriftlineError:
    """A 422 whose message names the first bad field and whose details list them all."""
    details = validation_details(errors, drop_body=drop_body)
    first = details[0] if details else {"field": "body", "message": "invalid"}
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return DriftlineError(
        422, "invalid_input", f"{first['field']}: {first['message']}{more}", details
    )
