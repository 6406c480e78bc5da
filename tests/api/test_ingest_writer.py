"""Group commit: concurrent deliveries share one durable transaction, and nothing is
acknowledged that was not stored."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from revline.api import create_app, ingest
from revline.api.errors import IngestUnavailable
from revline.api.ingest import IngestWriter
from revline.core import inbox
from revline.core.inbox import SignedEvent
from revline.core.runtime import Runtime
from tests.api.helpers import event_count, post_stripe, stored_ids, stripe_body


def _event(n: int | str) -> SignedEvent:
    return SignedEvent(
        "stripe", f"evt_{n}", "invoice.paid", datetime(2026, 12, 1, tzinfo=UTC), f'{{"n": "{n}"}}'
    )


def _recording_commits(writer: IngestWriter, delay: float = 0.0) -> list[int]:
    """Wrap the writer's commit to record batch sizes (and optionally to be slow)."""
    sizes: list[int] = []
    commit = writer._commit

    def recorded(events: list[SignedEvent]) -> list[bool]:
        sizes.append(len(events))
        threading.Event().wait(delay)
        return commit(events)

    writer._commit = recorded  # type: ignore[method-assign]
    return sizes


def test_concurrent_deliveries_are_committed_together(runtime: Runtime) -> None:
    writer = IngestWriter(runtime)
    sizes = _recording_commits(writer, delay=0.2)

    async def deliver() -> list[bool]:
        await writer.start()
        try:
            first = asyncio.create_task(writer.submit(_event("first"), 100))
            await asyncio.sleep(0.02)  # the first commit is now in flight; the rest queue up
            rest = await asyncio.gather(*(writer.submit(_event(n), 100) for n in range(49)))
            return [await first, *rest]
        finally:
            await writer.close()

    results = asyncio.run(deliver())

    assert results == [True] * 50
    assert event_count(runtime) == 50
    assert sum(sizes) == 50
    assert sizes == [1, 49]  # the 49 queued while the first commit was in flight


def test_repeats_delivered_together_store_one_row(runtime: Runtime) -> None:
    writer = IngestWriter(runtime)

    async def deliver() -> list[bool]:
        await writer.start()
        try:
            return list(
                await asyncio.gather(*(writer.submit(_event("same"), 10) for _ in range(3)))
            )
        finally:
            await writer.close()

    assert asyncio.run(deliver()) == [True, False, False]
    assert event_count(runtime) == 1


def test_a_batch_is_inserted_in_key_order_and_answered_in_arrival_order(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Overlapping batches from two processes lock index entries in one order: no deadlock."""
    real_record = inbox.record
    seen: list[list[str]] = []

    def recording(session: Session, events: Sequence[SignedEvent], now: datetime) -> Any:
        seen.append([e.external_id for e in events])
        return real_record(session, events, now)

    monkeypatch.setattr(inbox, "record", recording)
    writer = IngestWriter(runtime)
    with runtime.db.write() as session:
        real_record(session, [_event("b")], runtime.clock.now())

    results = writer._commit([_event("c"), _event("b"), _event("a"), _event("c")])

    assert seen == [["evt_a", "evt_b", "evt_c", "evt_c"]]
    assert results == [True, False, True, False]  # c new, b stored before, a new, c repeated


def test_a_failed_commit_fails_every_delivery_in_it_and_stores_none(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_record = inbox.record

    def insert_then_fail(session: Session, events: Sequence[SignedEvent], now: datetime) -> Any:
        real_record(session, events, now)  # the rows are written, then the transaction fails
        raise RuntimeError("disk full")

    writer = IngestWriter(runtime)

    async def deliver() -> tuple[list[BaseException | bool], bool]:
        await writer.start()
        try:
            monkeypatch.setattr(inbox, "record", insert_then_fail)
            failed = await asyncio.gather(
                *(writer.submit(_event(n), 10) for n in range(10)), return_exceptions=True
            )
            monkeypatch.setattr(inbox, "record", real_record)
            recovered = await writer.submit(_event(0), 10)
            return failed, recovered
        finally:
            await writer.close()

    failed, recovered = asyncio.run(deliver())

    assert all(isinstance(result, IngestUnavailable) for result in failed), failed
    assert recovered is True  # the writer outlives a failed batch; the retry is new
    assert stored_ids(runtime) == {"evt_0"}


def test_a_failed_commit_is_a_503_over_http_and_the_redelivery_is_stored(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(session: Session, events: Sequence[SignedEvent], now: datetime) -> Any:
        raise RuntimeError("database is locked")

    body = stripe_body("evt_retry")
    monkeypatch.setattr(inbox, "record", fail)
    refused = post_stripe(client, body)
    monkeypatch.undo()
    retried = post_stripe(client, body)

    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "ingest_unavailable"
    assert "database is locked" not in refused.text
    assert retried.status_code == 202
    assert stored_ids(runtime) == {"evt_retry"}


def test_close_stores_what_is_queued_and_then_refuses(runtime: Runtime) -> None:
    writer = IngestWriter(runtime)
    _recording_commits(writer, delay=0.02)

    async def deliver() -> tuple[list[bool], BaseException | None]:
        await writer.start()
        queued = [asyncio.create_task(writer.submit(_event(n), 10)) for n in range(5)]
        await asyncio.sleep(0)  # all five are queued
        await writer.close()
        late: BaseException | None = None
        try:
            await writer.submit(_event("late"), 10)
        except IngestUnavailable as exc:
            late = exc
        return [await task for task in queued], late

    results, late = asyncio.run(deliver())

    assert results == [True] * 5
    assert isinstance(late, IngestUnavailable)
    assert stored_ids(runtime) == {f"evt_{n}" for n in range(5)}


def test_if_the_writer_dies_waiting_deliveries_get_503_and_it_is_logged(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    writer = IngestWriter(runtime)
    gate = asyncio.Event()

    async def broken(queue: Any) -> Any:
        await gate.wait()
        raise RuntimeError("writer bug")

    writer._next_batch = broken  # type: ignore[method-assign]

    async def deliver() -> tuple[list[BaseException | bool], bool]:
        await writer.start()
        waiting = [asyncio.create_task(writer.submit(_event(n), 10)) for n in range(3)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        await asyncio.sleep(0)
        return results, writer.running

    results, running = asyncio.run(deliver())

    assert all(isinstance(result, IngestUnavailable) for result in results), results
    assert running is False
    assert "the ingest writer stopped" in caplog.text and "writer bug" in caplog.text


def test_too_many_waiting_deliveries_are_refused_at_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "MAX_PENDING", 2)
    writer = IngestWriter(runtime)
    release = threading.Event()
    commit = writer._commit

    def blocked(events: list[SignedEvent]) -> list[bool]:
        release.wait(10)
        return commit(events)

    writer._commit = blocked  # type: ignore[method-assign]

    async def deliver() -> tuple[list[bool], BaseException | None]:
        await writer.start()
        try:
            in_flight = asyncio.create_task(writer.submit(_event("a"), 10))
            await asyncio.sleep(0.01)  # "a" is being committed; the queue is empty again
            waiting = [asyncio.create_task(writer.submit(_event(n), 10)) for n in "bc"]
            await asyncio.sleep(0)
            refused: BaseException | None = None
            try:
                await writer.submit(_event("d"), 10)
            except IngestUnavailable as exc:
                refused = exc
            release.set()
            return [await in_flight, *[await task for task in waiting]], refused
        finally:
            await writer.close()

    stored, refused = asyncio.run(deliver())

    assert stored == [True, True, True]
    assert isinstance(refused, IngestUnavailable)
    assert stored_ids(runtime) == {"evt_a", "evt_b", "evt_c"}


def test_without_the_lifespan_webhooks_get_503_not_a_silent_loss(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))  # no `with`: the writer never started

    response = post_stripe(client, stripe_body("evt_nowriter"))
    health = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ingest_unavailable"
    assert health.status_code == 503
    assert event_count(runtime) == 0
