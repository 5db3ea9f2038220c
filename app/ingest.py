"""Group commit: the ingest requests of one api process share transactions.

A durable COMMIT (an fsync of the write-ahead log) costs the same for one event as for a
thousand, and so does a thread hop and a pool checkout. Handled one request at a time,
single-event traffic pays all three per event and tops out at a few hundred events per
second. Here concurrent requests hand their validated rows to a small number of writer
tasks; each writer takes whatever is waiting (up to ``max_rows``), writes it set-based in one
transaction, commits once, and answers every request in it. The writers' connections are
asynchronous and run on the event loop: with a writer thread each statement's answer waited
for the loop to hand over the GIL, a group took 4-5 ms against ≈1 ms of database work, and
the writers, not the CPU, bounded single-event traffic. The contract is unchanged:

- the answer comes after the COMMIT of the request's rows;
- duplicates are counted per request (within a group, the first request to bring a key wins);
- one request's failure is its own: a key of another project fails only that request, and
  if the database refuses a group the group is retried one request per transaction, so each
  gets its true answer;
- the queue is bounded (``max_queued_rows``): past it a request gets 503 with Retry-After
  instead of more memory; ``close()`` stops taking requests and drains the queue.

No ORM or library offers this for PostgreSQL (psycopg pipelines batch statements of one
connection, not requests of many), so it is written here.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.writers import KeysStored, first_of_each_key, insert_events, model_versions
from app.errors import DriftlineError
from app.models.ownership import ModelOwners
from app.models.predictions import RuleCache, fill_predictions

log = logging.getLogger("driftline.ingest")

_MAX_REGISTERED = 10_000


@dataclass
class _Request:
    """One request's rows waiting for a group, and the future its handler awaits."""

    project: int | None
    rows: list[dict[str, Any]]
    answer: "asyncio.Future[int]"
    error: BaseException | None = None
    accepted: int = 0


@dataclass
class GroupStats:
    """Counters for the api's own metrics and for tests."""

    groups: int = 0
    requests: int = 0
    rows: int = 0
    split_groups: int = 0


class GroupCommitter:
    """Writes the rows of concurrent ingest requests in shared transactions (see module)."""

    def __init__(
        self,
        engine: AsyncEngine,
        owners: ModelOwners,
        rules: RuleCache,
        *,
        writers: int = 2,
        max_rows: int = 5000,
        max_queued_rows: int = 50_000,
        linger_seconds: float = 0.0,
        retry_after: int = 5,
        on_group: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.owners = owners
        self.rules = rules
        self.writers = writers
        self.max_rows = max_rows
        self.max_queued_rows = max_queued_rows
        self.linger = linger_seconds
        self.retry_after = retry_after
        self.on_group = on_group
        self.stats = GroupStats()
        self._queue: deque[_Request] = deque()
        self._queued_rows = 0
        self._ready: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0
        self._closing = False
        # (model, version) pairs committed to ``models`` by this process: a batch of known
        # ones skips registering them (a round trip per group). Models are never deleted;
        # the set is emptied if a client sends endless versions.
        self._registered: set[tuple[str, str]] = set()

    def _start(self) -> None:
        # Created lazily inside the running loop (the app is built before the loop runs; a
        # test client may even run each request in a loop of its own).
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._writer(), name=f"driftline-group-commit-{i}")
            for i in range(self.writers)
        ]

    async def submit(self, project: int | None, rows: list[dict[str, Any]]) -> int:
        """Queue one request's rows; returns how many were new, after their COMMIT. Raises
        what the write raised for this request (404 for another project's model, a database
        error), or 503 when the queue is full or the process is stopping."""
        if self._closing:
            raise DriftlineError(
                503, "unavailable", "this api process is shutting down; retry",
                headers={"Retry-After": str(self.retry_after)},
            )  # fmt: skip
        if self._queued_rows + len(rows) > self.max_queued_rows and self._queued_rows:
            raise DriftlineError(
                503, "overloaded",
                f"{self._queued_rows} events are waiting to be written (limit "
                f"{self.max_queued_rows}); retry after {self.retry_after} s",
                headers={"Retry-After": str(self.retry_after)},
            )  # fmt: skip
        if self._ready is None or self._loop is not asyncio.get_running_loop():
            self._start()
        assert self._ready is not None
        request = _Request(project, rows, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        self._queued_rows += len(rows)
        self._ready.set()
        return await request.answer

    def _take(self) -> list[_Request]:
        group: list[_Request] = []
        size = 0
        while self._queue and (not group or size + len(self._queue[0].rows) <= self.max_rows):
            request = self._queue.popleft()
            group.append(request)
            size += len(request.rows)
        self._queued_rows -= size
        if not self._queue and self._ready is not None:
            self._ready.clear()
        return group

    async def _writer(self) -> None:
        assert self._ready is not None
        while True:
            await self._ready.wait()
            if not self._queue:
                # Another writer took it all: wait for the next request (a set event with
                # nothing queued would make this loop spin without yielding).
                self._ready.clear()
                continue
            if self.linger and len(self._queue) == 1:
                # A lone request: give its concurrent company a moment to join the group.
                await asyncio.sleep(self.linger)
            group = self._take()
            if not group:
                continue
            events = sum(len(r.rows) for r in group)
            self._in_flight += 1
            self.stats.groups += 1
            self.stats.requests += len(group)
            self.stats.rows += events
            try:
                await self._write_group(group)
            except Exception as exc:
                for request in group:
                    request.error = request.error or exc
            finally:
                self._in_flight -= 1
            for request in group:
                if request.answer.done():  # the client went away: nothing to tell
                    continue
                if request.error is not None:
                    request.answer.set_exception(request.error)
                else:
                    request.answer.set_result(request.accepted)
            if self.on_group is not None:
                self.on_group(events)

    async def _write_group(self, group: list[_Request]) -> None:
        """Write a group in one transaction; on a database error other than the connection
        being gone, retry each request in its own."""
        try:
            await self._write_once_more_if_dead(group)
        except sqlalchemy.exc.DBAPIError as exc:
            if (
                len(group) == 1
                or exc.connection_invalidated
                or isinstance(exc, sqlalchemy.exc.OperationalError)
            ):
                raise
            log.warning("a group of %d requests was refused (%s); writing them one by one",
                        len(group), type(exc.orig).__name__)  # fmt: skip
            self.stats.split_groups += 1
            for request in group:
                try:
                    await self._write_once_more_if_dead([request])
                except Exception as one:  # that request's own answer
                    request.error = one

    async def _write_once_more_if_dead(self, group: list[_Request]) -> None:
        try:
            await self._write(group)
        except sqlalchemy.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # A pooled connection that died (PostgreSQL restarted): the pool has dropped it
            # and its peers; one more try on a fresh one.
            await self._write(group)

    async def _write(self, group: list[_Request]) -> None:
        try:
            await self._write_as(group, copy=True)
        except KeysStored:
            # A retried batch (nothing of it was stored): once more with the statement that
            # skips the stored keys.
            await self._write_as(group, copy=False)

    async def _write_as(self, group: list[_Request], *, copy: bool) -> None:
        claimed = self._claimed_rows(None, group)
        if claimed is not None:
            # The caches knew every model: the rows go in one statement (atomic by itself,
            # keys included), in autocommit — no BEGIN and COMMIT round trips.
            writing, rows = claimed
            if not rows:
                return
            versions = model_versions(rows)
            async with self.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                inserted = await insert_events(conn, rows, versions - self._registered, copy=copy)
        else:
            async with self.engine.begin() as conn:
                claimed = await conn.run_sync(self._claimed_rows, group)
                assert claimed is not None  # with a connection, the caches may query
                writing, rows = claimed
                if not rows:
                    return
                versions = model_versions(rows)
                unregistered = versions - self._registered
                inserted = await insert_events(conn, rows, unregistered, copy=copy)
        if len(self._registered) > _MAX_REGISTERED:
            self._registered.clear()
        self._registered |= versions  # committed now
        # Within a group the first request to bring a key gets it; later ones are duplicates.
        for request in writing:
            for r in request.rows:
                key = (r["model"], r["request_id"])
                if key in inserted:
                    inserted.discard(key)
                    request.accepted += 1

    def _claimed_rows(
        self, conn: Connection | None, group: list[_Request]
    ) -> tuple[list[_Request], list[dict[str, Any]]] | None:
        """The requests whose models their caller may write, and their rows once each,
        predictions filled. With a connection (in the group's transaction, through
        run_sync) the caches query what they miss; without one they answer alone, and None
        says they could not."""
        writing = []
        for request in group:
            request.error, request.accepted = None, 0
            models = {r["model"] for r in request.rows}
            try:
                if conn is not None:
                    self.owners.claim(conn, request.project, models)
                elif not self.owners.claimed(request.project, models):
                    return None
            except DriftlineError as exc:
                request.error = exc
                continue
            writing.append(request)
        rows = first_of_each_key([r for request in writing for r in request.rows])
        unlabelled = {r["model"] for r in rows if r["prediction"] is None}
        if unlabelled:
            rules = (
                self.rules.for_models(conn, unlabelled)
                if conn is not None
                else self.rules.cached(unlabelled)
            )
            if rules is None:
                return None
            fill_predictions(rows, rules)
        return writing, rows

    async def close(self) -> None:
        """Stop taking requests, write what is queued, then stop the writers."""
        self._closing = True
        if self._ready is None:
            return
        while self._queue or self._in_flight:
            if self._queue:
                self._ready.set()
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
