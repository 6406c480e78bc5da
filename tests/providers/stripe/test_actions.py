"""Stripe actions carried out by Revline's executor through the adapter, against the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from revline.clock import SimulatedClock
from revline.core.playbook import ActionSpec
from revline.core.runtime import Runtime, Worker
from revline.db.models import Action, ActionStatus
from revline.providers.base import Handlers
from revline.providers.simulator import Faults
from revline.providers.stripe import actions
from revline.providers.stripe.client import StripeAdapter
from revline.providers.stripe.sim import CardOutcome, StripeSimulator, StripeState
from tests.conftest import STRIPE_SECRET
from tests.support.outbox import propose


@pytest.fixture
def registered(handlers: Handlers, adapter: StripeAdapter) -> Handlers:
    actions.register(handlers, adapter)
    return handlers


def _action(runtime: Runtime, action_id: str) -> Action:
    with runtime.db.read() as session:
        action = session.get(Action, action_id)
        assert action is not None
        return action


def _carry_out(runtime: Runtime, *specs: ActionSpec) -> list[Action]:
    ids = [propose(runtime, spec) for spec in specs]
    Worker(runtime).drain()
    return [_action(runtime, action_id) for action_id in ids]


def _failed_invoice(
    state: StripeState, invoice_id: str = "in_acme_1", code: str = "card_declined"
) -> str:
    customer = state.create_customer("billing@acme.example", "Acme Corp")
    state.set_card(customer["id"], CardOutcome.fails(code))
    state.create_invoice(customer["id"], 1_250_000, invoice_id=invoice_id)
    state.attempt_payment(invoice_id)
    return str(customer["id"])


def test_the_registered_kinds(registered: Handlers) -> None:
    assert registered.kinds() == [
        "stripe.customer.restore_dunning",
        "stripe.customer.suppress_dunning",
        "stripe.invoice.pay",
        "stripe.invoice.send",
        "stripe.invoice.stop_auto_retry",
        "stripe.portal_link.create",
        "stripe.refund.create",
    ]


def test_a_declined_manual_retry_is_applied_and_says_declined(
    runtime: Runtime, registered: Handlers, stripe_state: StripeState
) -> None:
    customer = _failed_invoice(stripe_state)
    [declined] = _carry_out(runtime, ActionSpec("stripe.invoice.pay", "in_acme_1"))
    assert declined.status == ActionStatus.APPLIED
    assert declined.result is not None
    assert {
        k: declined.result[k]
        for k in ("outcome", "status", "code", "decline_code", "attempt_count")
    } == {
        "outcome": "declined",
        "status": "open",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "attempt_count": 2,
    }

    stripe_state.card_updated(customer)
    [paid] = _carry_out(runtime, ActionSpec("stripe.invoice.pay", "in_acme_1", attempt=2))
    assert paid.status == ActionStatus.APPLIED
    assert paid.result is not None
    assert (paid.result["outcome"], paid.result["status"], paid.result["amount_paid"]) == (
        "paid",
        "paid",
        1_250_000,
    )
    assert stripe_state.get("invoice", "in_acme_1")["attempt_count"] == 3


def test_stop_auto_retry_takes_manual_control(
    runtime: Runtime, registered: Handlers, stripe_state: StripeState
) -> None:
    _failed_invoice(stripe_state)
    [stopped] = _carry_out(
        runtime, ActionSpec("stripe.invoice.stop_auto_retry", "in_acme_1", {"invoice": "in_acme_1"})
    )
    assert stopped.status == ActionStatus.APPLIED
    assert stopped.result == {
        "invoice": "in_acme_1",
        "status": "open",
        "auto_advance": False,
        "next_payment_attempt": None,
    }
    invoice = stripe_state.get("invoice", "in_acme_1")
    assert (invoice["auto_advance"], invoice["next_payment_attempt"]) == (False, None)
    assert stripe_state.smart_retry("in_acme_1") is None  # Stripe no longer retries by itself


def test_stripe_sends_its_email_for_an_invoice_under_manual_control(
    runtime: Runtime, registered: Handlers, stripe_state: StripeState
) -> None:
    _failed_invoice(stripe_state)
    _carry_out(runtime, ActionSpec("stripe.invoice.stop_auto_retry", "in_acme_1"))
    declined = ActionSpec("stripe.invoice.pay", "in_acme_1")
    _carry_out(runtime, declined)
    assert [e.kind for e in stripe_state.dunning_emails] == ["payment_failed"]  # none since
    [sent] = _carry_out(runtime, ActionSpec("stripe.invoice.send", "in_acme_1"))
    assert sent.status == ActionStatus.APPLIED
    assert sent.result == {"invoice": "in_acme_1", "status": "open", "sent": True}
    emails = stripe_state.dunning_emails
    assert [(e.kind, e.email, e.invoice) for e in emails[1:]] == [
        ("invoice_sent", "billing@acme.example", "in_acme_1")
    ]


def test_suppressing_dunning_silences_stripe_and_restoring_undoes_only_that(
    runtime: Runtime, registered: Handlers, stripe_state: StripeState, clock: SimulatedClock
) -> None:
    customer = _failed_invoice(stripe_state, "in_acme_1")
    stripe_state.create_invoice(customer, 40_000, invoice_id="in_acme_2")
    stripe_state.create_invoice(customer, 10_000, invoice_id="in_acme_3")
    assert [e.invoice for e in stripe_state.dunning_emails] == ["in_acme_1"]
    _carry_out(runtime, ActionSpec("stripe.invoice.stop_auto_retry", "in_acme_3"))

    [suppress] = _carry_out(
        runtime, ActionSpec("stripe.customer.suppress_dunning", customer, {"customer": customer})
    )
    assert suppress.status == ActionStatus.APPLIED and suppress.result is not None
    assert suppress.result["dunning"] == "suppressed"
    assert sorted(suppress.result["invoices"]) == ["in_acme_1", "in_acme_2"]
    assert stripe_state.get("customer", customer)["metadata"] == {
        "revline_dunning": "suppressed",
        "revline_dunning_at": clock.now().isoformat(),
    }
    assert not any(
        stripe_state.get("invoice", i)["auto_advance"] for i in ("in_acme_1", "in_acme_2")
    )

    # Stripe collects nothing by itself now, and sends no dunning email for these invoices.
    clock.advance(timedelta(hours=1))
    assert stripe_state.smart_retry("in_acme_1") is None
    stripe_state.attempt_payment("in_acme_2")
    assert [e.invoice for e in stripe_state.dunning_emails] == ["in_acme_1"]

    [restore] = _carry_out(runtime, ActionSpec("stripe.customer.restore_dunning", customer))
    assert restore.status == ActionStatus.APPLIED and restore.result is not None
    assert sorted(restore.result["invoices"]) == ["in_acme_1", "in_acme_2"]
    assert stripe_state.get("customer", customer)["metadata"]["revline_dunning"] == "restored"
    auto = {
        i: stripe_state.get("invoice", i)["auto_advance"]
        for i in ("in_acme_1", "in_acme_2", "in_acme_3")
    }
    assert auto == {"in_acme_1": True, "in_acme_2": True, "in_acme_3": False}  # manual stays manual
    clock.advance(timedelta(hours=1))
    retried = stripe_state.smart_retry("in_acme_1")
    assert retried is not None and not retried.succeeded
    assert [e.invoice for e in stripe_state.dunning_emails] == ["in_acme_1", "in_acme_1"]


def test_portal_link_and_refund(
    runtime: Runtime, registered: Handlers, stripe_state: StripeState
) -> None:
    customer = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    stripe_state.create_invoice(customer["id"], 60_000, invoice_id="in_acme_1")
    charge = stripe_state.attempt_payment("in_acme_1").charge["id"]
    portal, refund = _carry_out(
        runtime,
        ActionSpec(
            "stripe.portal_link.create",
            customer["id"],
            {"customer": customer["id"], "return_url": "https://ourco.example/billing"},
        ),
        ActionSpec(
            "stripe.refund.create",
            charge,
            {"charge": charge, "amount": 15_000, "reason": "requested_by_customer"},
        ),
    )
    assert portal.status == ActionStatus.APPLIED and portal.result is not None
    assert portal.result["url"].startswith("https://billing.stripe.com/p/session/")
    [session] = stripe_state.newest_first("billing_portal.session")
    assert (session["id"], session["flow"]["type"], session["return_url"]) == (
        portal.result["session"],
        "payment_method_update",
        "https://ourco.example/billing",
    )
    assert refund.status == ActionStatus.APPLIED and refund.result is not None
    [made] = stripe_state.refunds_of(charge)
    assert refund.result == {
        "refund": made["id"],
        "charge": charge,
        "amount": 15_000,
        "currency": "usd",
        "status": "succeeded",
        "reason": "requested_by_customer",
    }
    assert made["metadata"] == {"revline_idempotency_key": refund.idempotency_key}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            ActionSpec("stripe.refund.create", "ch_1", {"amount": 100, "reason": "duplicate"}),
            "params.charge",
        ),
        (
            ActionSpec("stripe.refund.create", "ch_1", {"charge": "ch_1", "reason": "duplicate"}),
            "params.amount",
        ),
        (ActionSpec("stripe.invoice.pay", "in_missing"), "No such invoice: 'in_missing'"),
    ],
)
def test_bad_requests_go_to_the_manual_queue(
    runtime: Runtime, registered: Handlers, spec: ActionSpec, message: str
) -> None:
    [action] = _carry_out(runtime, spec)
    assert action.status == ActionStatus.FAILED
    assert action.last_error is not None and message in action.last_error
    assert action.attempts == 1


@pytest.fixture
def faulty_sim(clock: SimulatedClock) -> Iterator[StripeSimulator]:
    faults = Faults(api_error_rate=0.15, api_429_rate=0.15, seed=21)
    with StripeSimulator(clock, seed=8, webhook_secret=STRIPE_SECRET, faults=faults) as simulator:
        yield simulator


def test_under_api_faults_every_action_is_applied_exactly_once(
    runtime: Runtime, handlers: Handlers, faulty_sim: StripeSimulator, clock: SimulatedClock
) -> None:
    state = faulty_sim.state
    actions.register(
        handlers,
        StripeAdapter(
            faulty_sim.api_key, api_base=faulty_sim.url, max_network_retries=0, clock=clock
        ),
    )
    customers = []
    specs: list[ActionSpec] = []
    for n in range(4):
        customer = state.create_customer(f"billing{n}@example.com", f"Customer {n}")["id"]
        customers.append(customer)
        state.create_invoice(customer, 50_000, invoice_id=f"in_paid_{n}")
        charge = state.attempt_payment(f"in_paid_{n}").charge["id"]
        state.set_card(customer, CardOutcome.fails("insufficient_funds"))
        state.create_invoice(customer, 80_000, invoice_id=f"in_failed_{n}")
        state.attempt_payment(f"in_failed_{n}")
        state.card_updated(customer)
        specs += [
            ActionSpec("stripe.invoice.pay", f"in_failed_{n}"),
            ActionSpec(
                "stripe.refund.create",
                charge,
                {"charge": charge, "amount": 5_000 + n, "reason": "duplicate"},
            ),
            ActionSpec("stripe.portal_link.create", customer),
            ActionSpec("stripe.customer.suppress_dunning", customer),
        ]
    ids = [propose(runtime, spec) for spec in specs]
    worker = Worker(runtime)
    for _ in range(60):
        worker.drain()
        if all(_action(runtime, i).status == ActionStatus.APPLIED for i in ids):
            break
        clock.advance(timedelta(minutes=10))

    done = [_action(runtime, i) for i in ids]
    assert {a.status for a in done} == {ActionStatus.APPLIED}
    assert (
        faulty_sim.injector.injected.get(429, 0) > 0
        and faulty_sim.injector.injected.get(500, 0) > 0
    )
    assert max(a.attempts for a in done) > 1  # faults did make the executor retry
    for n, customer in enumerate(customers):
        invoice = state.get("invoice", f"in_failed_{n}")
        assert (invoice["status"], invoice["attempt_count"]) == ("paid", 2)  # one manual charge
        refunds = [r for r in state.newest_first("refund") if r["customer"] == customer]
        assert [r["amount"] for r in refunds] == [5_000 + n]
        assert state.get("customer", customer)["metadata"]["revline_dunning"] == "suppressed"
    assert len(state.newest_first("billing_portal.session")) == len(customers)
    for action in done:
        json.dumps(action.result)
