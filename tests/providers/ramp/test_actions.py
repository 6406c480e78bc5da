"""The ramp.* actions through Revline's executor, against a simulator that fails on purpose.

Whatever the faults, every action ends applied and Ramp holds each effect exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from revline.clock import SimulatedClock
from revline.core.playbook import ActionSpec
from revline.core.runtime import Runtime, Worker
from revline.db.models import Action, ActionStatus
from revline.providers.base import ActionRequest, Handlers, ProviderError
from revline.providers.ramp.actions import register
from revline.providers.ramp.client import RampAdapter
from revline.providers.ramp.records import ReviewDecision
from revline.providers.ramp.sim import RampSimulator
from revline.providers.simulator import Faults
from tests.providers.ramp.conftest import Business, FakeTime, start_sim
from tests.support.outbox import propose

FRIENDLY = "Hi Sam, could you retake the photo of this receipt with the line items visible? Thanks!"


@pytest.fixture
def sim(clock: SimulatedClock, fake_time: FakeTime) -> Iterator[RampSimulator]:
    """Ramp failing a quarter of calls with 500 and more with 429, reproducibly."""
    simulator = start_sim(
        clock, fake_time, faults=Faults(api_error_rate=0.25, api_429_rate=0.15, seed=1)
    )
    yield simulator
    simulator.stop()


@pytest.fixture
def ramp_handlers(handlers: Handlers, adapter: RampAdapter) -> Handlers:
    register(handlers, adapter)
    return handlers


def _actions(runtime: Runtime) -> dict[str, Action]:
    with runtime.db.read() as session:
        return {a.kind: a for a in session.execute(select(Action)).scalars()}


def _settle(runtime: Runtime, rounds: int = 40) -> dict[str, Action]:
    """Run the worker, letting simulated hours pass for backoffs, until nothing is pending."""
    worker = Worker(runtime)
    for _ in range(rounds):
        worker.drain()
        actions = _actions(runtime)
        if all(a.status in (ActionStatus.APPLIED, ActionStatus.FAILED) for a in actions.values()):
            return actions
        runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    raise AssertionError("actions still pending")


def test_spend_actions_survive_faults_without_duplicate_effects(
    runtime: Runtime, sim: RampSimulator, business: Business, ramp_handlers: Handlers
) -> None:
    state = sim.state
    figma = state.add_transaction(business.cardholder.id, "Figma", 4_500)
    taxi = state.add_transaction(business.cardholder.id, "Taxi", 2_801, receipt="illegible")
    lunch = state.add_transaction(business.cardholder.id, "Noma", 9_000)
    notion = state.add_vendor("Notion Labs, Inc.")
    propose(
        runtime,
        ActionSpec(
            "ramp.transaction.approve", figma.id, {"transaction": figma.id, "gl_code": "6610"}
        ),
    )
    propose(
        runtime,
        ActionSpec(
            "ramp.transaction.reject",
            taxi.id,
            {"transaction": taxi.id, "reason": "missing_itemised_receipt", "comment": FRIENDLY},
        ),
    )
    propose(
        runtime,
        ActionSpec(
            "ramp.card.create",
            "notion",
            {
                "user": business.spend_ops_lead.id,
                "vendor": "Notion Labs, Inc.",
                "limit": 110_000,  # 110 % of a $1,000.00 monthly fee
                "interval": "monthly",
                "gl_code": "6610",
                "display_name": "Notion Labs, Inc.",
            },
        ),
    )
    propose(
        runtime,
        ActionSpec("ramp.memo.create", lunch.id, {"transaction": lunch.id, "memo": "Team offsite"}),
    )

    actions = _settle(runtime)

    assert {kind: a.status for kind, a in actions.items()} == {
        "ramp.transaction.approve": ActionStatus.APPLIED,
        "ramp.transaction.reject": ActionStatus.APPLIED,
        "ramp.card.create": ActionStatus.APPLIED,
        "ramp.memo.create": ActionStatus.APPLIED,
    }
    assert sim.injector.injected.get(500, 0) > 0 and sim.injector.injected.get(429, 0) > 0
    [approval] = state.reviews(figma.id)
    assert (approval.decision, approval.gl_code) == (ReviewDecision.APPROVE, "6610")
    [rejection] = state.reviews(taxi.id)
    assert (rejection.decision, rejection.reason) == (
        ReviewDecision.REJECT,
        "missing_itemised_receipt",
    )
    assert state.memos(taxi.id) == [FRIENDLY]
    assert state.memos(lunch.id) == ["Team offsite"]
    [card] = state.cards()
    assert (card.limit, card.interval, card.vendor_whitelist) == (110_000, "MONTHLY", (notion.id,))
    assert state.gl_code_of(card.gl_account_id or "") == "6610"
    result = actions["ramp.card.create"].result
    assert result is not None and result["card_id"] == card.id
    assert actions["ramp.transaction.reject"].result == {
        "transaction": taxi.id,
        "decision": "REJECT",
        "approval_status": "REJECTED",
        "gl_code": None,
        "amount": 2_801,
        "currency": "USD",
        "reason": "missing_itemised_receipt",
        "comment_posted": True,
    }


def test_a_lost_response_is_replayed_not_repeated(
    runtime: Runtime, sim: RampSimulator, business: Business, ramp_handlers: Handlers
) -> None:
    taxi = sim.state.add_transaction(business.cardholder.id, "Taxi", 2_801, receipt="none")
    params = {"transaction": taxi.id, "reason": "missing_itemised_receipt", "comment": FRIENDLY}
    action_id = propose(runtime, ActionSpec("ramp.transaction.reject", taxi.id, params))
    with runtime.db.read() as session:
        key = session.get(Action, action_id).idempotency_key  # type: ignore[union-attr]
    handler = ramp_handlers.get("ramp.transaction.reject")
    assert handler is not None
    # A worker that got through to Ramp (past the injected faults) and died before recording
    # the outcome.
    request = ActionRequest(action_id, "ramp.transaction.reject", taxi.id, params, key, 1)
    for _ in range(20):
        try:
            handler(request)
            break
        except ProviderError as exc:
            assert exc.retryable
    assert sim.state.memos(taxi.id) == [FRIENDLY]

    actions = _settle(runtime)

    assert actions["ramp.transaction.reject"].status == ActionStatus.APPLIED
    assert len(sim.state.reviews(taxi.id)) == 1
    assert sim.state.memos(taxi.id) == [FRIENDLY]


@pytest.mark.parametrize(
    ("kind", "params", "problem"),
    [
        ("ramp.transaction.approve", {"transaction": "t"}, "params.gl_code"),
        ("ramp.transaction.reject", {"transaction": "t", "reason": ""}, "params.reason"),
        (
            "ramp.card.create",
            {
                "user": "u",
                "vendor": "v",
                "limit": 1.5,
                "interval": "MONTHLY",
                "gl_code": "6610",
                "display_name": "x",
            },
            "params.limit",
        ),
        (
            "ramp.card.create",
            {
                "user": "u",
                "vendor": "v",
                "limit": 100,
                "interval": "FORTNIGHTLY",
                "gl_code": "6610",
                "display_name": "x",
            },
            "interval",
        ),
    ],
)
def test_invalid_params_go_to_the_manual_queue(
    runtime: Runtime,
    sim: RampSimulator,
    ramp_handlers: Handlers,
    kind: str,
    params: dict[str, object],
    problem: str,
) -> None:
    propose(runtime, ActionSpec(kind, "x", params))
    action = _settle(runtime)[kind]
    assert action.status == ActionStatus.FAILED
    assert problem in (action.last_error or "")
    assert sim.state.reviews() == [] and sim.state.cards() == []


def test_a_card_for_an_unknown_vendor_is_not_created(
    runtime: Runtime, sim: RampSimulator, business: Business, ramp_handlers: Handlers
) -> None:
    params = {
        "user": business.spend_ops_lead.id,
        "vendor": "Nobody Ltd",
        "limit": 11_000,
        "interval": "MONTHLY",
        "gl_code": "6610",
        "display_name": "Nobody",
    }
    propose(runtime, ActionSpec("ramp.card.create", "nobody", params))
    action = _settle(runtime)["ramp.card.create"]
    assert action.status == ActionStatus.FAILED
    assert "no vendor named 'Nobody Ltd'" in (action.last_error or "")
    assert sim.state.cards() == []
