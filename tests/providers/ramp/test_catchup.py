"""Dropped Ramp webhooks are found again by asking Ramp what awaits review."""

from __future__ import annotations

from sqlalchemy import select

from revline.core.runtime import Runtime
from revline.db.models import Event
from revline.providers.ramp.catchup import RampCatchUp
from revline.providers.ramp.client import RampAdapter
from revline.providers.ramp.records import ReviewDecision
from revline.providers.ramp.sim import RampSimulator
from tests.providers.ramp.conftest import Business


def _notifications(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.db.read() as session:
        rows = session.execute(
            select(Event.external_id, Event.payload).where(Event.source == "ramp")
        ).all()
    return sorted((external_id, payload["object"]["id"]) for external_id, payload in rows)


def test_transactions_awaiting_review_are_recorded_once_each(
    runtime: Runtime, sim: RampSimulator, adapter: RampAdapter, business: Business
) -> None:
    first = sim.state.add_transaction(business.cardholder.id, "Figma", 4500)
    second = sim.state.add_transaction(business.cardholder.id, "Notion Labs", 1600)
    catch_up = RampCatchUp(adapter, runtime.db)
    assert catch_up.run(runtime.clock.now()) == 2
    assert catch_up.run(runtime.clock.now()) == 0  # the inbox keeps one per transaction
    assert _notifications(runtime) == sorted(
        [
            (f"poll:ready_for_review:{first.id}", first.id),
            (f"poll:ready_for_review:{second.id}", second.id),
        ]
    )
    with runtime.db.read() as session:
        event = session.execute(select(Event).where(Event.source == "ramp")).scalars().first()
    assert event is not None and event.type == "transactions.ready_for_review"
    assert event.payload["via"] == "catch_up"


def test_reviewed_transactions_are_not_recorded(
    runtime: Runtime, sim: RampSimulator, adapter: RampAdapter, business: Business
) -> None:
    transaction = sim.state.add_transaction(business.cardholder.id, "Figma", 4500)
    adapter.review_transaction(
        transaction.id, ReviewDecision.APPROVE, gl_code="6610", reason=None, idempotency_key="k1"
    )
    assert RampCatchUp(adapter, runtime.db).run(runtime.clock.now()) == 0
