"""Signed webhooks from the simulator, and the events catch-up that fills what they missed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import stripe
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from sqlalchemy import select

from revline.api import create_app
from revline.clock import SimulatedClock
from revline.core import inbox
from revline.core.runtime import Runtime
from revline.db.models import Control, Event
from revline.providers.simulator import Faults, LoopbackServer
from revline.providers.stripe.catchup import CHECKPOINT, StripeCatchUp
from revline.providers.stripe.client import StripeAdapter
from revline.providers.stripe.signing import signature_header
from revline.providers.stripe.sim import CardOutcome, StripeSimulator, StripeState
from tests.conftest import STRIPE_SECRET


def _failed_invoice(state: StripeState, invoice_id: str = "in_acme_1") -> str:
    customer = state.create_customer("billing@acme.example", "Acme Corp")
    state.set_card(customer["id"], CardOutcome.fails("card_declined"))
    state.create_invoice(customer["id"], 1_250_000, invoice_id=invoice_id)
    state.attempt_payment(invoice_id)
    return str(customer["id"])


def _stored(runtime: Runtime) -> list[str]:
    with runtime.db.read() as session:
        return list(
            session.execute(
                select(Event.external_id).where(Event.source == "stripe").order_by(Event.id)
            ).scalars()
        )


def test_the_signature_is_stripes(clock: SimulatedClock) -> None:
    body = b'{"id": "evt_1", "object": "event"}'
    header = signature_header(body, STRIPE_SECRET, timestamp=1_700_000_000)
    assert header == stripe.WebhookSignature.generate_signature_header(
        body.decode(), STRIPE_SECRET, timestamp=1_700_000_000
    )
    fresh = signature_header(body, STRIPE_SECRET)
    signed_at = int(fresh.split(",")[0].removeprefix("t="))
    assert abs(signed_at - time.time()) < 5  # the real clock, not the simulated one
    assert abs(signed_at - clock.now().timestamp()) > 3600


def test_webhooks_are_delivered_signed_and_verify_with_the_sdk(clock: SimulatedClock) -> None:
    receiver = FastAPI()
    verified: list[stripe.Event] = []

    @receiver.post("/hook")
    async def hook(request: Request) -> Response:
        payload = await request.body()
        header = request.headers.get("stripe-signature")
        verified.append(stripe.Webhook.construct_event(payload, header, STRIPE_SECRET))
        return Response(status_code=200)

    server = LoopbackServer(receiver)
    with (
        server,
        StripeSimulator(
            clock, seed=3, webhook_secret=STRIPE_SECRET, webhook_endpoint=f"{server.url}/hook"
        ) as sim,
    ):
        _failed_invoice(sim.state)
        listed = [e["id"] for e in reversed(sim.state.newest_first("event"))]
        assert sim.flush_webhooks() == len(listed)
    assert [e.id for e in verified] == listed
    failed = [e for e in verified if e.type == "invoice.payment_failed"]
    assert len(failed) == 1 and failed[0].data.object.id == "in_acme_1"
    assert failed[0].created == int(clock.now().timestamp())  # the simulated time of the event


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as client:
        yield client


def _simulator(clock: SimulatedClock, faults: Faults) -> StripeSimulator:
    return StripeSimulator(
        clock,
        seed=5,
        webhook_secret=STRIPE_SECRET,
        webhook_endpoint="http://testserver/webhooks/stripe",
        faults=faults,
    )


def test_webhooks_reach_revlines_inbox_once_despite_duplicates(
    runtime: Runtime, api: TestClient, clock: SimulatedClock
) -> None:
    faults = Faults(webhook_duplicate_rate=1.0, webhook_reorder=True, seed=2)
    with _simulator(clock, faults) as sim:
        _failed_invoice(sim.state)
        events = [e["id"] for e in sim.state.newest_first("event")]
        assert sim.flush_webhooks(api) == 2 * len(events)
    assert sorted(_stored(runtime)) == sorted(events)


def test_catch_up_fills_the_gap_dropped_webhooks_left(
    runtime: Runtime, api: TestClient, clock: SimulatedClock
) -> None:
    with _simulator(clock, Faults(webhook_drop_rate=1.0)) as sim:
        adapter = StripeAdapter(sim.api_key, api_base=sim.url, max_network_retries=0, clock=clock)
        catch_up = StripeCatchUp(adapter, runtime.db)
        _failed_invoice(sim.state)
        sim.flush_webhooks(api)
        assert _stored(runtime) == [] and len(sim.webhooks.dropped) == 6

        oldest_first = [e["id"] for e in reversed(sim.state.newest_first("event"))]
        assert catch_up.run(clock.now()) == 6
        assert _stored(runtime) == oldest_first
        assert catch_up.checkpoint() == {
            "created": int(clock.now().timestamp()),
            "id": oldest_first[-1],
        }
        assert catch_up.run(clock.now()) == 0

        clock.advance(timedelta(hours=1))
        retry = sim.state.smart_retry("in_acme_1")
        assert retry is not None and not retry.succeeded
        assert catch_up.run(clock.now()) == 3
        stored = _stored(runtime)
        assert stored[:6] == oldest_first and len(stored) == 9

    with runtime.db.read() as session:
        row = session.get(Control, CHECKPOINT)
        assert row is not None and row.updated_by == "stripe_catch_up"
        payload = session.execute(
            select(Event.payload).where(Event.external_id == stored[-1])
        ).scalar_one()
    assert payload["type"] == "invoice.payment_failed"
    assert payload["data"]["object"]["attempt_count"] == 2


def test_catch_up_and_webhooks_together_store_each_event_once(
    runtime: Runtime, api: TestClient, clock: SimulatedClock
) -> None:
    with _simulator(clock, Faults(webhook_drop_rate=0.5, seed=9)) as sim:
        adapter = StripeAdapter(sim.api_key, api_base=sim.url, max_network_retries=0, clock=clock)
        _failed_invoice(sim.state)
        sim.state.card_updated(sim.state.newest_first("customer")[0]["id"])
        sim.state.smart_retry("in_acme_1")
        sim.flush_webhooks(api)
        assert 0 < len(sim.webhooks.dropped) < len(sim.state.newest_first("event"))
        new = StripeCatchUp(adapter, runtime.db).run(clock.now())
        assert new == len(sim.webhooks.dropped)
        assert sorted(_stored(runtime)) == sorted(e["id"] for e in sim.state.newest_first("event"))


def test_a_checkpoint_past_stripes_30_days_falls_back_on_its_time(
    runtime: Runtime, clock: SimulatedClock
) -> None:
    with _simulator(clock, Faults(webhook_drop_rate=1.0)) as sim:
        adapter = StripeAdapter(sim.api_key, api_base=sim.url, max_network_retries=0, clock=clock)
        catch_up = StripeCatchUp(adapter, runtime.db, types=["invoice.payment_failed"])
        _failed_invoice(sim.state)
        assert catch_up.run(clock.now()) == 1
        clock.advance(timedelta(days=31))
        sim.state.create_invoice(
            sim.state.newest_first("customer")[0]["id"], 5_000, invoice_id="in_acme_2"
        )
        sim.state.attempt_payment("in_acme_2")
        assert catch_up.run(clock.now()) == 1
    assert len(_stored(runtime)) == 2


def test_catch_up_runs_as_a_scheduler_job(runtime: Runtime, clock: SimulatedClock) -> None:
    with _simulator(clock, Faults(webhook_drop_rate=1.0)) as sim:
        adapter = StripeAdapter(sim.api_key, api_base=sim.url, max_network_retries=0, clock=clock)
        job = StripeCatchUp(adapter, runtime.db).job(timedelta(minutes=5))
        runtime.jobs.append(job)
        scheduler = runtime.scheduler()
        _failed_invoice(sim.state)
        assert scheduler.tick(clock.now()) == 6
        sim.state.card_updated(sim.state.newest_first("customer")[0]["id"])
        assert scheduler.tick(clock.now()) == 0  # not due yet
        clock.advance(timedelta(minutes=5))
        assert scheduler.tick(clock.now()) == 1
    assert job.name == "stripe_catch_up"


def test_a_failing_catch_up_is_left_for_the_next_run(
    runtime: Runtime, clock: SimulatedClock
) -> None:
    with _simulator(clock, Faults(api_error_rate=0.9, seed=4)) as sim:
        adapter = StripeAdapter(sim.api_key, api_base=sim.url, max_network_retries=0, clock=clock)
        catch_up = StripeCatchUp(adapter, runtime.db)
        _failed_invoice(sim.state)
        results = [catch_up.run(clock.now()) for _ in range(20)]
    assert sum(results) == 6 and len(_stored(runtime)) == 6
    assert json.dumps(catch_up.checkpoint())  # recorded, JSON as stored


def _at_once(runtime: Runtime, held: str, *jobs: Callable[[], object]) -> list[BaseException]:
    """Each job in its own thread, all at once, while a third transaction holds Stripe event
    ``held`` (PostgreSQL) until they wait on it; what the jobs raised."""
    failures: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - what the job raised, for the test
            failures.append(exc)

    with runtime.db.engine.connect() as blocker:
        holding = blocker.begin()
        if runtime.db.is_postgres:
            blocker.exec_driver_sql(
                "INSERT INTO events (source, external_id, type, received_at, payload, status,"
                " attempts) VALUES ('stripe', %s, 'x', now(), '{}', 'received', 0)",
                (held,),
            )
        threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        holding.rollback()
    for thread in threads:
        thread.join(timeout=30)
    return failures


def test_the_catch_up_and_the_webhook_writer_at_once_never_deadlock(
    runtime: Runtime, clock: SimulatedClock
) -> None:
    """After an outage Stripe's retries and the catch-up bring the same events at once: the
    writer's batch in key order, the catch-up's oldest first. A third transaction holds the
    newest event until both wait on it. The catch-up never holds one event while waiting for
    another (on PostgreSQL, one event per transaction), so whichever gets the newest first, the
    other takes its turn: no deadlock, and each event once."""
    with _simulator(clock, Faults(webhook_drop_rate=1.0)) as sim:
        adapter = StripeAdapter(sim.api_key, api_base=sim.url, max_network_retries=0, clock=clock)
        catch_up = StripeCatchUp(adapter, runtime.db)
        for round_ in range(4):
            _failed_invoice(sim.state, invoice_id=f"in_{round_}")
            created = list(reversed(sim.state.newest_first("event")))[-6:]
            retried = [
                inbox.IncomingEvent("stripe", e["id"], e["type"], clock.now(), e)
                for e in sorted(created, key=lambda e: str(e["id"]))
            ]

            def webhooks(events: list[inbox.IncomingEvent] = retried) -> None:
                with runtime.db.write() as session:
                    inbox.record(session, events, clock.now())

            failures = _at_once(
                runtime, str(created[-1]["id"]), lambda: catch_up.run(clock.now()), webhooks
            )
            assert failures == [], round_
            stored = _stored(runtime)
            assert sorted(stored[-6:]) == sorted(str(e["id"]) for e in created)
            assert len(stored) == len(set(stored)) == 6 * (round_ + 1)
