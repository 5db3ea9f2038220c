"""A minimal JSON client for a running Driftline, on the standard library (the core needs no
HTTP client): the demo and ``driftline labels`` talk to the API like any other client."""

import json
import time
import urllib.error
import urllib.request
from typing import Any


class Api:
    """Calls with the key; ``attempts`` > 1 retries connection errors and 5xx answers (the
    demo waits for a server that is still starting), a 409 answers its body."""

    def __init__(self, url: str, key: str, *, attempts: int = 1) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r}: give an http:// or https:// address")
        self.url = url.rstrip("/")
        self.key = key
        self.attempts = attempts

    def raw(self, method: str, path: str, body: Any = None) -> bytes:
        """The answer's bytes; RuntimeError naming the status and the server's message, or
        OSError when the server cannot be reached."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310  (scheme checked: the user's Driftline)
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        last = self.attempts - 1
        for attempt in range(self.attempts):
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    answer: bytes = response.read()
                    return answer
            except urllib.error.HTTPError as exc:
                if exc.code in (409,):
                    return bytes(exc.read())
                if exc.code < 500 or attempt == last:
                    raise RuntimeError(
                        f"{method} {path}: {exc.code} {exc.read()[:300]!r}"
                    ) from None
            except urllib.error.URLError:
                if attempt == last:
                    raise
            time.sleep(1 + attempt)
        raise RuntimeError("unreachable")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The answer as JSON (None when empty)."""
        raw = self.raw(method, path, body)
        return json.loads(raw) if raw else None
