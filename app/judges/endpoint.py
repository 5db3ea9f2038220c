"""Where a judge is called and how its key is found (no HTTP client here: the slim api
image stores judges without the worker's ``openai`` dependency)."""

import os
from dataclasses import dataclass
from pathlib import Path


class Unusable(RuntimeError):
    """The judge cannot be used as configured: its key is missing where the worker runs, or
    the endpoint refuses the request itself (401, 404 for the model name, 400): asking again
    would fail (and maybe pay) again, so nothing is cached and the window says why."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call a judge (everything but the key, which is read at call time)."""

    base_url: str
    model: str
    api_key_env: str | None
    api_key_file: str | None
    timeout_seconds: float
    max_retries: int
    concurrency: int


def read_api_key(api_key_env: str | None, api_key_file: str | None) -> str:
    """The judge's key from the environment variable or file it names. A local endpoint
    (vLLM, Ollama) needs none: a placeholder is sent."""
    if api_key_env:
        value = os.environ.get(api_key_env)
        if not value:
            raise Unusable(f"environment variable {api_key_env} is not set on the worker")
        return value
    if api_key_file:
        try:
            value = Path(api_key_file).read_text().strip()
        except OSError as exc:
            raise Unusable(f"api_key_file {api_key_file}: {exc.strerror}") from None
        if not value:
            raise Unusable(f"api_key_file {api_key_file} is empty")
        return value
    return "none"
