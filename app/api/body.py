"""Reading JSON request bodies for the ingest routes, with errors that say what is wrong."""

from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect

from app.errors import DriftlineError, invalid_input

T = TypeVar("T")


def client_gone() -> DriftlineError:
    """What a request whose client hung up mid-body gets: a 4xx nobody reads, rather than
    a 500 with a traceback that counts as a server error (wrk stopping, a killed client)."""
    return DriftlineError(
        400, "client_disconnected",
        "the client closed the connection before sending the whole body; nothing was stored",
    )  # fmt: skip


async def read_body(request: Request) -> bytes:
    """The whole body; ``client_gone()`` if the client disconnects first."""
    try:
        return await request.body()
    except ClientDisconnect:
        raise client_gone() from None


async def read_json(request: Request) -> Any:
    """Decode the body as JSON (content type must be JSON when given); 400/415 otherwise."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise DriftlineError(
            415,
            "unsupported_media_type",
            f"Content-Type {content_type!r} is not JSON; send 'Content-Type: application/json'",
        )
    body = await read_body(request)
    if not body.strip():
        raise DriftlineError(400, "empty_body", "the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DriftlineError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def split_batch(payload: Any, key: str, *, max_items: int) -> tuple[list[Any], bool]:
    """Return ``(items, is_batch)`` for a single object or ``{key: [...]}``."""
    if not isinstance(payload, dict):
        raise DriftlineError(
            422,
            "invalid_input",
            f"the body must be a JSON object: one item or {{{key!r}: [...]}}",
        )
    if key not in payload:
        return [payload], False
    if set(payload) != {key}:
        extra = sorted(set(payload) - {key})
        raise DriftlineError(
            422, "invalid_input", f"a batch holds only {key!r}; unexpected field(s) {extra}"
        )
    items = payload[key]
    if not isinstance(items, list):
        raise DriftlineError(422, "invalid_input", f"{key}: must be a list")
    if not items:
        raise DriftlineError(422, "invalid_input", f"{key}: the batch is empty")
    if len(items) > max_items:
        raise DriftlineError(
            413,
            "batch_too_large",
            f"{key}: {len(items)} items; at most {max_items} per request",
            {"max_items": max_items, "items": len(items)},
        )
    return items, True


def validate_items(
    adapter: TypeAdapter[list[T]], items: list[Any], key: str, is_batch: bool
) -> list[T]:
    """Validate every item; a 422 names ``key[index].field`` (or ``field`` for one item)."""
    try:
        return adapter.validate_python(items)
    except ValidationError as exc:
        prefix: tuple[str, ...] = (key,) if is_batch else ()
        errors = [
            {**e, "loc": prefix + tuple(e["loc"])[0 if is_batch else 1 :]} for e in exc.errors()
        ]
        raise invalid_input(errors) from None


def one_or_batch_body(schema_name: str, key: str, max_items: int) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for routes that take one item or ``{key: [items]}``."""
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    batch = {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": ref, "minItems": 1, "maxItems": max_items}},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [ref, batch]}}},
        }
    }
