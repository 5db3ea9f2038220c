"""Background batching, retrying and spooling; never blocks or raises into the host app."""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import json
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import quote

import httpx

log = logging.getLogger("driftline_client")

Item = Tuple[str, Dict[str, Any]]  # ("events" | "feedback", payload)
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class Stats:
    """What the client did so far."""

    queued: int = 0
    sent: int = 0
    duplicates: int = 0
    retries: int = 0
    dropped: int = 0
    rejected: int = 0
    spooled: int = 0
    errors: List[str] = field(default_factory=list)


class _Core:
    """State and logic shared by the thread and asyncio variants."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        batch_size: int,
        flush_interval: float,
        max_queue: int,
        spool_path: Optional[str],
        max_backoff: float,
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "driftline-client/0.1"}
        self.batch_size = max(1, min(batch_size, 1000))
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.max_backoff = max_backoff
        self.spool = Path(spool_path) if spool_path else None
        self.queue: Deque[Item] = collections.deque()
        self.stats = Stats()
        self._warned_at = 0.0
        self._load_spool()

    # --- producing -------------------------------------------------------------------
    def event(
        self,
        model: str,
        prompt: str,
        output: str,
        request_id: Optional[str],
        fields: Dict[str, Any],
    ) -> Tuple[str, Item]:
        rid = request_id or uuid.uuid4().hex
        payload = {"model": model, "prompt": prompt, "output": output, "request_id": rid}
        payload.update({k: v for k, v in fields.items() if v is not None})
        payload.setdefault("ts", datetime.now(UTC).isoformat())
        return rid, ("events", payload)

    def push(self, item: Item) -> None:
        if len(self.queue) >= self.max_queue:
            oldest = self.queue.popleft()
            if self.spool is not None and self._write_spool([oldest]):
                self.stats.spooled += 1
            else:
                self.stats.dropped += 1
                self._warn(f"driftline queue full ({self.max_queue}): dropped the oldest event")
        self.queue.append(item)
        self.stats.queued += 1

    def take(self) -> Tuple[str, List[Dict[str, Any]]]:
        """The next batch: up to batch_size items of the kind at the head of the queue."""
        kind = self.queue[0][0]
        batch: List[Dict[str, Any]] = []
        while self.queue and len(batch) < self.batch_size and self.queue[0][0] == kind:
            batch.append(self.queue.popleft()[1])
        return kind, batch

    # --- outcomes ----------------------------------------------------------------------
    def handle(
        self, kind: str, batch: List[Dict[str, Any]], response: Optional[httpx.Response]
    ) -> Optional[List[Dict[str, Any]]]:
        """What to retry (None when done with the batch)."""
        if response is None:
            return batch
        status = response.status_code
        if status in (200, 202):
            body = _json(response)
            self.stats.sent += int(body.get("accepted", len(batch)))
            self.stats.duplicates += int(body.get("duplicates", 0))
            return None
        if status in RETRYABLE:
            return batch
        if status == 413 and len(batch) > 1:  # too big: send the halves separately
            half = len(batch) // 2
            for payload in reversed(batch[half:]):
                self.queue.appendleft((kind, payload))
            return batch[:half]
        if status == 422:
            bad = {
                d.get("index")
                for d in (_json(response).get("error") or {}).get("details") or []
                if isinstance(d, dict)
            }
            bad.discard(None)
            if len(batch) == 1:
                bad = {0}
            if bad and len(bad) < len(batch):
                self.stats.rejected += len(bad)
                self._warn(f"driftline rejected {len(bad)} invalid {kind}: {_message(response)}")
                return [p for i, p in enumerate(batch) if i not in bad]
        self.stats.rejected += len(batch)
        self._warn(f"driftline refused {len(batch)} {kind} ({status}): {_message(response)}")
        return None

    def backoff(self, attempt: int) -> float:
        self.stats.retries += 1
        delay: float = min(self.max_backoff, 0.5 * 2 ** min(attempt, 10))
        return delay * random.uniform(0.5, 1.0)

    def after_send(
        self,
        kind: str,
        pending: List[Dict[str, Any]],
        response: Optional[httpx.Response],
        attempt: int,
    ) -> Tuple[Optional[List[Dict[str, Any]]], Optional[float], int]:
        """The sender's next step, shared by both clients: ``(what to send next or None when
        done, seconds to wait first or None to send at once, the attempt number)``."""
        retry = self.handle(kind, pending, response)
        if retry is None:
            return None, None, 0
        if response is not None and response.status_code not in RETRYABLE and retry != pending:
            return retry, None, 0  # trimmed or split: send the rest now
        delay = self.backoff(attempt)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after and retry_after.isdigit():
            delay = min(self.max_backoff, max(delay, float(retry_after)))
        return retry, delay, attempt + 1

    def unsendable(self, kind: str, pending: List[Dict[str, Any]], exc: Exception) -> None:
        """A batch the HTTP client could not even encode (e.g. a non-JSON value): drop it."""
        self.stats.rejected += len(pending)
        self._warn(f"driftline: cannot send {len(pending)} {kind}: {exc!r}")

    def requeue(self, kind: str, pending: List[Dict[str, Any]]) -> None:
        """Put an unsent batch back at the front (the client is closing mid-retry)."""
        for payload in reversed(pending):
            self.queue.appendleft((kind, payload))

    # --- spooling ----------------------------------------------------------------------
    def spool_rest(self) -> None:
        if self.spool is None or not self.queue:
            if self.queue:
                self.stats.dropped += len(self.queue)
                self._warn(f"driftline: {len(self.queue)} unsent items dropped at close")
                self.queue.clear()
            return
        items = list(self.queue)
        if self._write_spool(items):
            self.stats.spooled += len(items)
            self.queue.clear()

    def _write_spool(self, items: List[Item]) -> bool:
        assert self.spool is not None
        try:
            with self.spool.open("a", encoding="utf-8") as fh:
                for kind, payload in items:
                    fh.write(json.dumps({"kind": kind, "payload": payload}) + "\n")
            return True
        except OSError as exc:
            self._warn(f"driftline: cannot spool to {self.spool}: {exc}")
            return False

    def _load_spool(self) -> None:
        if self.spool is None or not self.spool.exists():
            return
        try:
            lines = self.spool.read_text(encoding="utf-8").splitlines()
            self.spool.unlink()
        except OSError as exc:
            self._warn(f"driftline: cannot read spool {self.spool}: {exc}")
            return
        for line in lines:
            try:
                row = json.loads(line)
                self.queue.append((row["kind"], row["payload"]))
            except (ValueError, KeyError):
                continue

    def _warn(self, message: str) -> None:
        self.stats.errors = [*self.stats.errors, message][-20:]
        now = time.monotonic()
        if now - self._warned_at > 30:  # at most one warning every 30 s in the host's log
            self._warned_at = now
            log.warning(message)


def _feedback_payload(
    request_id: str,
    model: str,
    label: Optional[str],
    score: Optional[float],
    thumbs: Optional[bool],
    source: Optional[str],
) -> Dict[str, Any]:
    fields = {"model": model, "request_id": request_id, "label": label, "score": score,
              "thumbs": thumbs, "source": source}  # fmt: skip
    return {k: v for k, v in fields.items() if v is not None}


def _metrics_payload(
    version: str, training: Optional[Dict[str, float]], validation: Optional[Dict[str, float]]
) -> Dict[str, Any]:
    body: Dict[str, Any] = {"version": version}
    if training is not None:
        body["training"] = training
    if validation is not None:
        body["validation"] = validation
    return body


def _raise_for_status(response: httpx.Response) -> None:
    if response.is_error:
        raise httpx.HTTPStatusError(
            f"Driftline answered {response.status_code}: {_message(response)}",
            request=response.request,
            response=response,
        )


def _json(response: httpx.Response) -> Dict[str, Any]:
    try:
        body = response.json()
        return body if isinstance(body, dict) else {}
    except ValueError:
        return {}


def _message(response: httpx.Response) -> str:
    return str((_json(response).get("error") or {}).get("message") or response.text[:200])


class _Producer:
    """``log()``, ``feedback()`` and the integrations, shared by both clients: each client
    only says how a queued item reaches its sender (``_enqueue``)."""

    _core: _Core

    def _enqueue(self, item: Item) -> None:
        raise NotImplementedError

    def log(
        self,
        *,
        model: str,
        prompt: str,
        output: str,
        request_id: Optional[str] = None,
        model_version: Optional[str] = None,
        ts: Union[datetime, str, None] = None,
        prediction: Optional[str] = None,
        confidence: Optional[float] = None,
        latency_ms: Optional[float] = None,
        prompt_tokens: Optional[int] = None,
        completion_tokens: Optional[int] = None,
        token_logprobs: Optional[Sequence[float]] = None,
        perplexity: Optional[float] = None,
        finish_reason: Optional[str] = None,
        embedding: Optional[Sequence[float]] = None,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> Optional[str]:
        """Queue one model call and return at once; returns its request_id (use it for
        ``feedback``), or None if it could not be queued (never raises into the caller).

        The fields are those of ``POST /v1/events``; a misspelt one is a TypeError here, not
        a rejection on the server minutes later.
        """
        try:
            fields: Dict[str, Any] = {
                "model_version": model_version,
                "ts": ts.isoformat() if isinstance(ts, datetime) else ts,
                "prediction": prediction, "confidence": confidence, "latency_ms": latency_ms,
                "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "token_logprobs": list(token_logprobs) if token_logprobs else None,
                "perplexity": perplexity, "finish_reason": finish_reason,
                "embedding": list(embedding) if embedding else None, "metadata": metadata,
            }  # fmt: skip
            rid, item = self._core.event(model, prompt, output, request_id, fields)
            self._enqueue(item)
            return rid
        except Exception as exc:  # never into the host application
            self._core._warn(f"driftline: log() failed: {exc!r}")
            return None

    def feedback(
        self,
        request_id: str,
        *,
        model: str,
        label: Optional[str] = None,
        score: Optional[float] = None,
        thumbs: Optional[bool] = None,
        source: Optional[str] = None,
    ) -> None:
        """Queue a label / score / thumbs for an earlier call."""
        try:
            self._enqueue(("feedback", _feedback_payload(request_id, model, label, score,
                                                         thumbs, source)))  # fmt: skip
        except Exception as exc:
            self._core._warn(f"driftline: feedback() failed: {exc!r}")

    def observe(self, *, model: str, prompt_arg: Optional[str] = None, **fields: Any) -> Any:
        """Decorator: log every call of a function (sync or async) that returns text; see
        ``driftline_client.integrations.observe``."""
        from driftline_client.integrations import observe

        return observe(self, model=model, prompt_arg=prompt_arg, **fields)

    def wrap_openai(self, client: Any, *, model: Optional[str] = None) -> Any:
        """Log every chat completion of an ``openai`` client (sync or async, streaming too);
        see ``driftline_client.integrations.wrap_openai``."""
        from driftline_client.integrations import wrap_openai

        return wrap_openai(self, client, model=model)


class Driftline(_Producer):
    """Thread-based client: ``log()`` and ``feedback()`` return at once."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        batch_size: int = 200,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        spool_path: Optional[str] = None,
        timeout: float = 10.0,
        max_backoff: float = 30.0,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        self._core = _Core(
            url,
            api_key,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            spool_path=spool_path,
            max_backoff=max_backoff,
        )
        self._http = httpx.Client(timeout=timeout, headers=self._core.headers, transport=transport)
        self._cv = threading.Condition()
        self._inflight = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="driftline-client", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _enqueue(self, item: Item) -> None:
        with self._cv:
            self._core.push(item)
            if len(self._core.queue) >= self._core.batch_size:
                self._cv.notify_all()

    def report_metrics(
        self,
        model: str,
        *,
        version: str = "",
        training: Optional[Dict[str, float]] = None,
        validation: Optional[Dict[str, float]] = None,
    ) -> Dict[str, Any]:
        """Report what a model version scored offline (for the overfitting gap panel).

        Unlike ``log()``, this is a direct call for a training pipeline: it returns the
        stored version and raises ``httpx.HTTPStatusError`` if Driftline refuses it.
        """
        response = self._http.put(
            f"{self._core.url}/v1/models/{quote(model, safe='')}/metrics",
            json=_metrics_payload(version, training, validation),
        )
        _raise_for_status(response)
        return _json(response)

    def stats(self) -> Stats:
        """Counters: queued, sent, duplicates, retries, dropped, rejected, spooled."""
        return self._core.stats

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until everything queued so far was sent (or refused); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            self._cv.notify_all()
            while self._core.queue or self._inflight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cv.wait(0.1 if remaining is None else min(remaining, 0.1))
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Flush (up to ``timeout``), stop the thread, spool or count what is left."""
        if self._closing:
            return
        self.flush(timeout)
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._thread.join(timeout=2)
        with self._cv:
            self._core.spool_rest()
        self._http.close()

    def _run(self) -> None:
        while True:
            with self._cv:
                if not self._core.queue and not self._closing:
                    self._cv.wait(self._core.flush_interval)
                if self._closing:
                    return
                if not self._core.queue:
                    continue
                kind, batch = self._core.take()
                self._inflight += 1
            try:
                self._send(kind, batch)
            finally:
                with self._cv:
                    self._inflight -= 1
                    self._cv.notify_all()

    def _send(self, kind: str, batch: List[Dict[str, Any]]) -> None:
        attempt = 0
        pending: Optional[List[Dict[str, Any]]] = batch
        while pending:
            try:
                response: Optional[httpx.Response] = self._http.post(
                    f"{self._core.url}/v1/{kind}", json={kind: pending}
                )
            except httpx.HTTPError:
                response = None
            except Exception as exc:  # e.g. a value JSON cannot encode: drop, never crash
                with self._cv:
                    self._core.unsendable(kind, pending, exc)
                return
            with self._cv:
                pending, delay, attempt = self._core.after_send(kind, pending, response, attempt)
                if not pending or delay is None:
                    continue
                # flush() notifies this condition too; only close() may cut the wait short,
                # or a flush during an outage would ignore the server's Retry-After.
                deadline = time.monotonic() + delay
                while not self._closing and (left := deadline - time.monotonic()) > 0:
                    self._cv.wait(left)
                if self._closing:
                    self._core.requeue(kind, pending)
                    return


class AsyncDriftline(_Producer):
    """asyncio variant: ``log()`` is a plain (non-async) call; ``await aclose()`` at shutdown."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        batch_size: int = 200,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        spool_path: Optional[str] = None,
        timeout: float = 10.0,
        max_backoff: float = 30.0,
        transport: Optional[httpx.AsyncBaseTransport] = None,
    ) -> None:
        self._core = _Core(
            url,
            api_key,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            spool_path=spool_path,
            max_backoff=max_backoff,
        )
        self._http = httpx.AsyncClient(
            timeout=timeout, headers=self._core.headers, transport=transport
        )
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task[None]] = None
        self._closing = False

    def _ensure_task(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _enqueue(self, item: Item) -> None:
        # Called from inside the event loop: the sender task starts with the first item.
        self._core.push(item)
        self._ensure_task()
        if len(self._core.queue) >= self._core.batch_size:
            self._wake.set()

    async def report_metrics(
        self,
        model: str,
        *,
        version: str = "",
        training: Optional[Dict[str, float]] = None,
        validation: Optional[Dict[str, float]] = None,
    ) -> Dict[str, Any]:
        """Report what a model version scored offline; see ``Driftline.report_metrics``."""
        response = await self._http.put(
            f"{self._core.url}/v1/models/{quote(model, safe='')}/metrics",
            json=_metrics_payload(version, training, validation),
        )
        _raise_for_status(response)
        return _json(response)

    def stats(self) -> Stats:
        """Counters: queued, sent, duplicates, retries, dropped, rejected, spooled."""
        return self._core.stats

    async def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until the queue is empty; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        while self._core.queue or self._sending:
            if deadline is not None and time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    _sending = False

    async def aclose(self, timeout: float = 10.0) -> None:
        """Flush, stop, spool or count what is left."""
        await self.flush(timeout)
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 2)
            except Exception:
                self._task.cancel()
        self._core.spool_rest()
        await self._http.aclose()

    async def _run(self) -> None:
        while not self._closing:
            if not self._core.queue:
                # asyncio.TimeoutError, not the builtin: they differ before Python 3.11.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._core.flush_interval)
                self._wake.clear()
                continue
            kind, batch = self._core.take()
            self._sending = True
            try:
                await self._send(kind, batch)
            finally:
                self._sending = False

    async def _send(self, kind: str, batch: List[Dict[str, Any]]) -> None:
        attempt = 0
        pending: Optional[List[Dict[str, Any]]] = batch
        while pending:
            try:
                response: Optional[httpx.Response] = await self._http.post(
                    f"{self._core.url}/v1/{kind}", json={kind: pending}
                )
            except httpx.HTTPError:
                response = None
            except Exception as exc:
                self._core.unsendable(kind, pending, exc)
                return
            pending, delay, attempt = self._core.after_send(kind, pending, response, attempt)
            if not pending or delay is None:
                continue
            if self._closing:
                self._core.requeue(kind, pending)
                return
            await asyncio.sleep(delay)
