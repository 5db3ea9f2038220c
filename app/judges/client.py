"""Calling a judge: any OpenAI-compatible chat endpoint (OpenAI, Azure OpenAI, vLLM, Ollama).

The official ``openai`` client does the transport: timeouts, and retries with exponential
backoff on 408/409/429/5xx and connection errors, honouring ``Retry-After``. A call that still
fails after its retries is ``Transient`` (the worker defers the window and asks again later);
an answer off the schema is an ``OffFormat`` judgment (kept: asking again costs the same).
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai

from app.judges import rubrics
from app.judges.endpoint import Endpoint, Unusable, read_api_key
from app.judges.rubrics import OffFormat

__all__ = ["Answer", "JudgeClient", "Transient", "Unusable"]


class Transient(RuntimeError):
    """The endpoint did not answer (after the client's retries): try the window later."""


@dataclass(frozen=True)
class Answer:
    """One call's outcome: a parsed judgment, or an off-format error; tokens from ``usage``."""

    parsed: rubrics.Parsed | None
    error: str | None
    tokens: int


class JudgeClient:
    """One judge's calls, concurrent up to its ``concurrency``."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._client = openai.OpenAI(
            base_url=endpoint.base_url,
            api_key=read_api_key(endpoint.api_key_env, endpoint.api_key_file),
            timeout=endpoint.timeout_seconds,
            max_retries=endpoint.max_retries,
        )

    def ask(
        self, template: str, answer: str, values: dict[str, str], *, pass_threshold: float
    ) -> Answer:
        """One judgment. Raises ``Transient`` when the endpoint did not answer, ``Unusable``
        when it refused the request."""
        try:
            # The rubric builds plain dicts in the documented shapes of both parameters.
            completion = self._client.chat.completions.create(  # type: ignore[call-overload]
                model=self.endpoint.model,
                messages=rubrics.messages(template, values),
                response_format=rubrics.response_format(answer),
                temperature=0,
            )
        except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as e:
            raise Transient(f"{type(e).__name__}: {e}") from None
        except openai.APIStatusError as exc:
            if exc.status_code in (408, 409) or exc.status_code >= 500:
                raise Transient(f"HTTP {exc.status_code}: {exc.message}") from None
            why = f"the endpoint refused: HTTP {exc.status_code}: {exc.message}"
            raise Unusable(why[:500]) from None
        except openai.APIError as exc:  # e.g. a body that is not a chat completion
            raise Transient(f"{type(exc).__name__}: {exc}") from None
        usage = completion.usage
        tokens = int(usage.total_tokens) if usage is not None else 0
        content = completion.choices[0].message.content if completion.choices else None
        try:
            parsed = rubrics.parse(content, answer, pass_threshold=pass_threshold)
            return Answer(parsed, None, tokens)
        except OffFormat as exc:
            return Answer(None, str(exc), tokens)

    def ask_many(
        self,
        items: list[dict[str, str]],
        call: Callable[[dict[str, str]], Answer],
    ) -> list[Answer | Transient | Unusable]:
        """``call`` on every item, ``concurrency`` at a time; a failed call is returned in its
        item's place (the others' answers are kept)."""

        def one(values: dict[str, str]) -> Answer | Transient | Unusable:
            try:
                return call(values)
            except (Transient, Unusable) as exc:
                return exc

        with ThreadPoolExecutor(max_workers=max(1, self.endpoint.concurrency)) as pool:
            return list(pool.map(one, items))

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()
