"""Drop-in logging: a decorator for any function that returns text, and a wrapper for the
official ``openai`` client. Neither imports ``openai``: the wrapper works on the client it
is given (``pip install driftline-client[openai]`` only pins a tested version).

Logging never changes what the wrapped call returns or raises, and a failure to log is a
warning, never an exception in the host application.
"""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def observe(producer: Any, *, model: str, prompt_arg: Optional[str] = None, **fields: Any) -> Any:
    """Decorator logging each call of a function that returns text: the prompt is the
    argument named ``prompt_arg`` (default: the first, ``self``/``cls`` skipped), the output
    the return value, the latency measured; ``fields`` are added to every event (any
    ``log()`` keyword: ``model_version``, ``metadata``…). A call that raises is not logged."""
    # A misspelt field fails here, once, at decoration, not on every call.
    inspect.signature(producer.log).bind(model=model, prompt="", output="", **fields)

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        def record(args: Any, kwargs: Any, result: Any, started: float) -> None:
            try:
                bound = signature.bind_partial(*args, **kwargs).arguments
                if prompt_arg is not None:
                    prompt = bound.get(prompt_arg, "")
                else:
                    own = [v for k, v in bound.items() if k not in ("self", "cls")]
                    prompt = own[0] if own else ""
                producer.log(
                    model=model,
                    prompt=prompt if isinstance(prompt, str) else str(prompt),
                    output=result if isinstance(result, str) else str(result),
                    latency_ms=(time.perf_counter() - started) * 1000,
                    **fields,
                )
            except Exception as exc:  # never into the host application
                producer._core._warn(f"driftline: observe() could not log: {exc!r}")

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                result = await fn(*args, **kwargs)
                record(args, kwargs, result, started)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = fn(*args, **kwargs)
            record(args, kwargs, result, started)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def wrap_openai(producer: Any, client: Any, *, model: Optional[str] = None) -> Any:
    """Make ``client.chat.completions.create`` log every call, and return the client.

    Works with ``openai.OpenAI`` and ``openai.AsyncOpenAI``, streamed or not. Each event has
    the last user message as prompt, the first choice as output, token counts, finish
    reason, latency (to the last chunk when streaming), token logprobs when the call asked
    for them (``logprobs=True``), and the answering model snapshot as ``model_version``.
    ``model`` names the monitored model (default: the request's ``model``). Streamed calls
    report token counts when ``stream_options={"include_usage": True}`` is set.
    """
    completions = client.chat.completions
    original = completions.create
    if getattr(original, "_driftline_wrapped", False):
        return client  # wrapping twice would log every call twice

    # AsyncOpenAI's create is a plain function returning a coroutine, so the kind of client
    # shows in what the call returns, not in the function.
    def create(*args: Any, **kwargs: Any) -> Any:
        call = _Call(producer, model or str(kwargs.get("model", "")), kwargs)
        response = original(*args, **kwargs)
        if inspect.isawaitable(response):
            return _answered_async(response, call, bool(kwargs.get("stream")))
        if kwargs.get("stream"):
            return _Stream(response, call)
        call.finish(response)
        return response

    wrapped: Any = functools.wraps(original)(create)
    wrapped._driftline_wrapped = True
    completions.create = wrapped
    return client


async def _answered_async(pending: Any, call: _Call, stream: bool) -> Any:
    response = await pending
    if stream:
        return _AsyncStream(response, call)
    call.finish(response)
    return response


class _Call:
    """One chat completion being logged: what was asked, and what came back so far."""

    def __init__(self, producer: Any, model: str, kwargs: Dict[str, Any]) -> None:
        self.producer, self.model = producer, model
        self.prompt = _last_user_text(kwargs.get("messages") or [])
        self.started = time.perf_counter()
        self.text: List[str] = []
        self.logprobs: List[float] = []
        self.finish_reason: Optional[str] = None
        self.usage: Any = None
        self.answered_by: Optional[str] = None
        self.response_id: Optional[str] = None
        self.logged = False

    def finish(self, response: Any) -> None:
        """Log a whole (non-streamed) response."""
        try:
            choice = response.choices[0] if response.choices else None
            if choice is not None:
                self.text.append(choice.message.content or "")
                self.finish_reason = choice.finish_reason
                self._logprobs(choice)
            self.usage, self.answered_by = response.usage, response.model
            self.response_id = response.id
        except Exception as exc:
            self.producer._core._warn(f"driftline: could not read an openai response: {exc!r}")
        self.log()

    def chunk(self, chunk: Any) -> None:
        """Take one streamed chunk into account."""
        try:
            self.answered_by = self.answered_by or getattr(chunk, "model", None)
            self.response_id = self.response_id or getattr(chunk, "id", None)
            if getattr(chunk, "usage", None) is not None:
                self.usage = chunk.usage
            for choice in chunk.choices or []:
                if choice.index != 0:
                    continue
                if choice.delta is not None and choice.delta.content:
                    self.text.append(choice.delta.content)
                self.finish_reason = choice.finish_reason or self.finish_reason
                self._logprobs(choice)
        except Exception as exc:
            self.producer._core._warn(f"driftline: could not read an openai chunk: {exc!r}")

    def _logprobs(self, choice: Any) -> None:
        content = getattr(getattr(choice, "logprobs", None), "content", None) or []
        self.logprobs += [float(t.logprob) for t in content]

    def log(self) -> None:
        """Queue the event (once, however the stream ends)."""
        if self.logged:
            return
        self.logged = True
        usage = self.usage
        self.producer.log(
            model=self.model,
            prompt=self.prompt,
            output="".join(self.text),
            model_version=self.answered_by if self.answered_by != self.model else None,
            latency_ms=(time.perf_counter() - self.started) * 1000,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            token_logprobs=self.logprobs or None,
            finish_reason=self.finish_reason,
            metadata={"openai_response_id": self.response_id} if self.response_id else None,
        )


class _Stream:
    """A streamed response that logs when the caller has read it to the end (or closes it),
    and is otherwise the ``openai`` stream it wraps."""

    def __init__(self, stream: Any, call: _Call) -> None:
        self._stream, self._call = stream, call

    def __iter__(self) -> Iterator[Any]:
        try:
            for chunk in self._stream:
                self._call.chunk(chunk)
                yield chunk
        finally:
            self._call.log()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._call.log()
        self._stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _AsyncStream:
    """The asyncio twin of ``_Stream``."""

    def __init__(self, stream: Any, call: _Call) -> None:
        self._stream, self._call = stream, call

    async def __aiter__(self) -> Any:
        try:
            async for chunk in self._stream:
                self._call.chunk(chunk)
                yield chunk
        finally:
            self._call.log()

    async def __aenter__(self) -> _AsyncStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        self._call.log()
        await self._stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _last_user_text(messages: Any) -> str:
    """The last user message's text (its text parts joined when it has parts)."""
    for message in reversed(list(messages)):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(
                str(p.get("text", "")) for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            )  # fmt: skip
    return ""


def otel_request_id(span_context: Any) -> str:
    """The ``request_id`` Driftline gives the event of an OpenTelemetry span (sent to
    ``/v1/otlp/v1/traces``): ``<trace id>-<span id>`` in hex. Use it to send feedback later:
    ``dl.feedback(otel_request_id(span.get_span_context()), model=…, label=…)``."""
    return f"{span_context.trace_id:032x}-{span_context.span_id:016x}"
