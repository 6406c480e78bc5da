"""The inbox stores every verified event once and never loses one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from revline.core import inbox
from revline.core.runtime import Runtime, Worker
from revline.db.models import Decision, Event, EventStatus
from tests.support.events import deliver


def _count(runtime: Runtime, model: type[Event] | type[Decision]) -> int:
    with runtime.db.read() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_five_deliveries_make_one_row_and_one_decision(runtime: Runtime) -> None:
    obj = {"id": "in_1", "customer": "cus_1"}
    results = [deliver(runtime, "evt_1", "invoice.payment_failed", obj) for _ in range(5)]
    assert results == [True, False, False, False, False]
    Worker(runtime).drain()
    for _ in range(5):
        deliver(runtime, "evt_1", "invoice.payment_failed", obj)
    Worker(runtime).drain()
    assert _count(runtime, Event) == 1
    assert _count(runtime, Decision) == 1


def test_a_batch_reports_new_and_duplicate_per_item(runtime: Runtime) -> None:
    def event(i: str) -> inbox.IncomingEvent:
        return inbox.IncomingEvent("stripe", i, "customer.updated", None, {"id": i})

    deliver(runtime, "evt_old", "customer.updated", {"id": "cus"})
    with runtime.db.write() as session:
        flags = inbox.record(
            session,
            [event("evt_a"), event("evt_old"), event("evt_a"), event("evt_b")],
            runtime.clock.now(),
        )
    assert flags == [True, False, False, True]
    assert _count(runtime, Event) == 3


def test_same_id_from_two_sources_is_two_events(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        flags = inbox.record(
            session,
            [
                inbox.IncomingEvent("stripe", "x_1", "a", None, {}),
                inbox.IncomingEvent("ramp", "x_1", "a", None, {}),
            ],
            runtime.clock.now(),
        )
    assert flags == [True, True]


def test_unknown_event_types_are_stored_and_marked_ignored(runtime: Runtime) -> None:
    deliver(runtime, "evt_new", "radar.early_fraud_warning.created", {"id": "issfr_1"})
    Worker(runtime).drain()
    with runtime.db.read() as session:
        row = session.execute(select(Event)).scalar_one()
    assert row.status == EventStatus.IGNORED
    assert row.payload["type"] == "radar.early_fraud_warning.created"


def test_processing_failure_is_recorded_and_retried(runtime: Runtime) -> None:
    chase = runtime.playbooks.get("test_chase")
    assert chase is not None
    original = chase.decide
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("NetSuite lookup timed out")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    chase.decide = flaky  # type: ignore[method-assign]
    deliver(runtime, "evt_f", "invoice.payment_failed", {"id": "in_9", "customer": "cus_9"})
    worker = Worker(runtime)
    worker.drain()
    with runtime.db.read() as session:
        row = session.execute(select(Event)).scalar_one()
    assert row.status == EventStatus.FAILED
    assert row.attempts == 1
    assert row.last_error == "RuntimeError: NetSuite lookup timed out"
    assert row.next_attempt_at is not None and row.next_attempt_at > runtime.clock.now()

    runtime.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    worker.drain()
    with runtime.db.read() as session:
        row = session.execute(select(Event)).scalar_one()
    assert row.status == EventStatus.PROCESSED
    assert _count(runtime, Decision) == 1


def test_failures_stop_retrying_after_the_limit_but_stay_visible(runtime: Runtime) -> None:
    chase = runtime.playbooks.get("test_chase")
    assert chase is not None

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("bug")

    chase.decide = broken  # type: ignore[method-assign]
    deliver(runtime, "evt_b", "invoice.payment_failed", {"id": "in_b", "customer": "c"})
    worker = Worker(runtime)
    for _ in range(runtime.settings.executor.event_max_attempts + 2):
        worker.drain()
        runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    with runtime.db.read() as session:
        row = session.execute(select(Event)).scalar_one()
    assert row.status == EventStatus.FAILED
    assert row.attempts == runtime.settings.executor.event_max_attempts
    assert row.next_attempt_at is None
