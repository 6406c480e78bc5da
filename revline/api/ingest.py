"""Group commit for webhook ingest.

Every delivery must be durable before it is acknowledged, and a durable commit costs an fsync.
Concurrent deliveries therefore queue here; one writer takes everything that has queued up, stores
it with a single ``inbox.record`` in one transaction, and only then resolves each delivery's
future. While a commit is in flight the next batch gathers on its own, so the batch size follows
the load without any added wait. A failed commit fails every delivery in it: nothing is
acknowledged that was not stored, and the senders retry.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from prometheus_client import Histogram

from revline.api.errors import IngestUnavailable
from revline.core import inbox
from revline.core.inbox import SignedEvent
from revline.core.runtime import Runtime

log = logging.getLogger(__name__)

INGEST_BATCH_SIZE = Histogram(
    "revline_ingest_batch_size",
    "Webhook deliveries stored per group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)

# Rows per transaction; a multi-row insert binds 8 parameters per row, far inside both
# engines' limits at this size.
MAX_BATCH = 256
# Raw bytes per transaction, so a burst of large events does not become one huge statement.
MAX_BATCH_BYTES = 8 * 1024 * 1024
# Deliveries waiting beyond this are refused at once (503) rather than queued without bound.
MAX_PENDING = 10_000
CLOSE_TIMEOUT_SECONDS = 30.0


@dataclass
class _Pending:
    event: SignedEvent
    size: int
    future: asyncio.Future[bool]


class IngestWriter:
    """Stores deliveries in batches on one writer task; see the module docstring."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._queue: asyncio.Queue[_Pending | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight: list[_Pending] = []
        self._closing = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    async def start(self) -> None:
        """Start the writer task on the running event loop (the app's lifespan calls this)."""
        if self._task is not None:
            raise RuntimeError("the ingest writer is already started")
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="revline-ingest-writer")
        self._task.add_done_callback(self._report)

    async def submit(self, event: SignedEvent, size: int) -> bool:
        """Store ``event`` durably; True if it was new, False if already in the inbox."""
        if not self.running or self._queue is None:
            raise IngestUnavailable("the ingest writer is not running")
        if self._queue.qsize() >= MAX_PENDING:
            raise IngestUnavailable("too many deliveries waiting to be stored; retry later")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(event, size, future))
        return await future

    async def close(self) -> None:
        """Store what is queued, then stop. Deliveries arriving from now on get a 503."""
        if self._task is None or self._queue is None:
            return
        self._closing = True
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            log.error("ingest writer did not finish within %ss; cancelling", CLOSE_TIMEOUT_SECONDS)
            self._task.cancel()
            self._fail_waiting(IngestUnavailable("the server is shutting down"))

    async def _run(self) -> None:
        assert self._queue is not None
        try:
            stopping = False
            while not stopping:
                batch, stopping = await self._next_batch(self._queue)
                if batch:
                    await self._store(batch)
        finally:
            # However the loop ends, nobody is left waiting for an answer that will never come.
            self._fail_waiting(IngestUnavailable("the ingest writer stopped"))

    @staticmethod
    def _report(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the ingest writer stopped", exc_info=task.exception())

    async def _next_batch(
        self, queue: asyncio.Queue[_Pending | None]
    ) -> tuple[list[_Pending], bool]:
        """Wait for one delivery, then take whatever else is already waiting (up to the caps)."""
        first = await queue.get()
        if first is None:
            return [], True
        batch = [first]
        size = first.size
        while len(batch) < MAX_BATCH and size < MAX_BATCH_BYTES and not queue.empty():
            item = queue.get_nowait()
            if item is None:
                return batch, True
            batch.append(item)
            size += item.size
        return batch, False

    async def _store(self, batch: list[_Pending]) -> None:
        events = [pending.event for pending in batch]
        self._in_flight = batch
        try:
            results = await asyncio.to_thread(self._commit, events)
        except Exception:  # any failure means not stored: every sender in the batch gets a 503
            log.exception("storing a batch of %d webhook deliveries failed", len(batch))
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(
                        IngestUnavailable("the event could not be stored; retry later")
                    )
            return
        finally:
            self._in_flight = []
        INGEST_BATCH_SIZE.observe(len(batch))
        for pending, new in zip(batch, results, strict=True):
            # A client that hung up cancelled its future; its event is stored all the same.
            if not pending.future.done():
                pending.future.set_result(new)

    def _commit(self, events: list[SignedEvent]) -> list[bool]:
        # Insert in key order: two API processes committing overlapping batches on PostgreSQL
        # then lock the same unique-index entries in the same order and cannot deadlock. The
        # sort is stable, so a repeat stays behind its first occurrence and is the duplicate.
        order = sorted(range(len(events)), key=lambda i: (events[i].source, events[i].external_id))
        with self.runtime.db.write() as session:
            stored = inbox.record(session, [events[i] for i in order], self.runtime.clock.now())
        results = [False] * len(events)
        for position, index in enumerate(order):
            results[index] = stored[position]
        return results

    def _fail_waiting(self, error: IngestUnavailable) -> None:
        assert self._queue is not None
        waiting = list(self._in_flight)
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                waiting.append(item)
        for item in waiting:
            if not item.future.done():
                item.future.set_exception(error)
