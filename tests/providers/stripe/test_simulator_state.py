"""The happenings the sandbox enacts, and that the simulated account behaves as Stripe does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import httpx
import pytest

from revline.clock import SimulatedClock
from revline.providers.stripe.client import StripeAdapter
from revline.providers.stripe.sim import (
    CARD_SUCCEEDS,
    CardOutcome,
    FeeSchedule,
    SimulationError,
    StripeSimulator,
    StripeState,
)
from revline.providers.stripe.sim.errors import StripeApiError


def _types(state: StripeState) -> list[str]:
    return [e["type"] for e in reversed(state.newest_first("event"))]


def _customer_with_card(state: StripeState, card: CardOutcome) -> str:
    customer = str(state.create_customer("billing@acme.example", "Acme Corp")["id"])
    state.set_card(customer, card)
    return customer


@pytest.mark.parametrize(
    ("code", "decline_code", "expected"),
    [
        ("card_declined", None, ("card_declined", "generic_decline")),
        ("card_declined", "lost_card", ("card_declined", "lost_card")),
        ("insufficient_funds", None, ("insufficient_funds", "insufficient_funds")),
        ("expired_card", None, ("expired_card", "expired_card")),
        ("processing_error", None, ("processing_error", "processing_error")),
    ],
)
def test_failing_cards_carry_stripes_codes(
    clock: SimulatedClock, code: str, decline_code: str | None, expected: tuple[str, str]
) -> None:
    state = StripeState(clock)
    customer = _customer_with_card(state, CardOutcome.fails(code, decline_code))
    state.create_invoice(customer, 10_000, invoice_id="in_1")
    attempt = state.attempt_payment("in_1")
    assert not attempt.succeeded
    assert (attempt.failure_code, attempt.decline_code) == expected
    assert attempt.charge["outcome"]["type"] == "issuer_declined"
    assert attempt.payment_intent["last_payment_error"]["code"] == code
    assert attempt.charge["balance_transaction"] is None
    assert _types(state)[-3:] == [
        "charge.failed",
        "payment_intent.payment_failed",
        "invoice.payment_failed",
    ]


def test_smart_retry_runs_on_soft_declines_only_and_recovers(clock: SimulatedClock) -> None:
    state = StripeState(clock)
    customer = _customer_with_card(state, CardOutcome.fails("card_declined"))
    invoice = state.create_invoice(customer, 10_000, invoice_id="in_soft")
    assert invoice["status"] == "open" and invoice["number"]
    assert state.smart_retry("in_soft") is None  # never attempted yet
    failed = state.attempt_payment("in_soft")
    assert failed.invoice["next_payment_attempt"] == int(
        (clock.now() + timedelta(hours=1)).timestamp()
    )
    clock.advance(timedelta(hours=1))
    recovered = state.smart_retry("in_soft", CARD_SUCCEEDS)
    assert recovered is not None and recovered.succeeded
    assert recovered.invoice["status"] == "paid" and recovered.invoice["attempt_count"] == 2
    assert _types(state)[-4:] == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    assert state.smart_retry("in_soft") is None  # paid: nothing to retry


def test_smart_retry_never_runs_on_a_hard_decline(clock: SimulatedClock) -> None:
    state = StripeState(clock)
    customer = _customer_with_card(state, CardOutcome.fails("card_declined", "stolen_card"))
    state.create_invoice(customer, 10_000, invoice_id="in_hard")
    failed = state.attempt_payment("in_hard")
    assert failed.invoice["next_payment_attempt"] is None
    assert state.smart_retry("in_hard") is None
    assert state.get("invoice", "in_hard")["attempt_count"] == 1


def test_automatic_attempts_stop_at_the_limit(clock: SimulatedClock) -> None:
    state = StripeState(clock, smart_retry_limit=3)
    customer = _customer_with_card(state, CardOutcome.fails("card_declined"))
    state.create_invoice(customer, 10_000, invoice_id="in_1")
    state.attempt_payment("in_1")
    assert state.smart_retry("in_1") is not None
    last = state.smart_retry("in_1")
    assert last is not None and last.invoice["next_payment_attempt"] is None
    assert state.smart_retry("in_1") is None
    assert len(state.dunning_emails) == 3


def test_a_draft_is_numbered_when_finalized(clock: SimulatedClock) -> None:
    state = StripeState(clock)
    customer = state.create_customer("billing@acme.example", "Acme Corp")
    draft = state.create_invoice(customer["id"], 10_000, finalize=False)
    assert (draft["status"], draft["number"], draft["next_payment_attempt"]) == (
        "draft",
        None,
        None,
    )
    opened = state.finalize_invoice(draft["id"])
    assert opened["status"] == "open"
    assert opened["number"] == f"{customer['invoice_prefix']}-0001"
    assert opened["status_transitions"]["finalized_at"] == int(clock.now().timestamp())
    assert _types(state)[-2:] == ["invoice.created", "invoice.finalized"]
    with pytest.raises(SimulationError):
        state.finalize_invoice(draft["id"])


def test_paid_out_of_band(clock: SimulatedClock) -> None:
    state = StripeState(clock)
    customer = _customer_with_card(state, CardOutcome.fails("card_declined"))
    state.create_invoice(customer, 10_000, invoice_id="in_1")
    state.attempt_payment("in_1")
    paid = state.pay_out_of_band("in_1")
    assert (paid["status"], paid["amount_paid"], paid["amount_remaining"]) == ("paid", 10_000, 0)
    assert _types(state)[-1] == "invoice.paid"
    assert "invoice.payment_succeeded" not in _types(state)
    assert len(state.newest_first("balance_transaction")) == 0  # no money moved through Stripe
    with pytest.raises(SimulationError):
        state.pay_out_of_band("in_1")


def test_paid_on_the_invoice_page_with_another_card(clock: SimulatedClock) -> None:
    state = StripeState(clock)
    customer = _customer_with_card(state, CardOutcome.fails("card_declined"))
    on_file = state.get("customer", customer)["invoice_settings"]["default_payment_method"]
    state.create_invoice(customer, 10_000, invoice_id="in_1")
    state.attempt_payment("in_1")
    paid = state.pay_on_invoice_page("in_1")
    assert paid.succeeded and paid.invoice["status"] == "paid"
    assert paid.charge["payment_method"] != on_file  # typed on the page, not saved
    assert state.get("customer", customer)["invoice_settings"]["default_payment_method"] == on_file
    assert _types(state)[-4:] == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    with pytest.raises(SimulationError):
        state.pay_on_invoice_page("in_1")


def test_a_payment_arranged_before_the_next_pay_lands_first(
    sim: StripeSimulator, stripe_state: StripeState
) -> None:
    """The customer pays seconds before a manual retry: the payment lands as the pay request
    arrives, and Stripe refuses the retry of a paid invoice; nothing is charged twice."""
    customer = _customer_with_card(stripe_state, CardOutcome.fails("card_declined"))
    stripe_state.create_invoice(customer, 10_000, invoice_id="in_1")
    stripe_state.attempt_payment("in_1")
    stripe_state.before_next_pay("in_1", partial(stripe_state.pay_on_invoice_page, "in_1"))
    assert stripe_state.get("invoice", "in_1")["status"] == "open"  # nothing until the call

    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {sim.api_key}"}) as http:
        retry = http.post("/v1/invoices/in_1/pay", headers={"Idempotency-Key": "retry-1"})
    assert retry.status_code == 400
    assert retry.json()["error"] == {
        "message": "Invoice is already paid.",
        "type": "invalid_request_error",
    }
    charges = stripe_state.newest_first("charge")
    assert sorted(c["status"] for c in charges) == ["failed", "succeeded"]
    invoice = stripe_state.get("invoice", "in_1")
    assert (invoice["status"], invoice["amount_paid"], invoice["attempt_count"]) == (
        "paid",
        10_000,
        2,
    )
    landed = [e for e in stripe_state.newest_first("event") if e["type"] == "invoice.paid"]
    # The customer's doing, not the retry's: the events name no API request.
    assert [e["request"] for e in landed] == [{"id": None, "idempotency_key": None}]


def test_an_arranged_payment_skips_an_invoice_already_settled(clock: SimulatedClock) -> None:
    state = StripeState(clock)
    customer = _customer_with_card(state, CardOutcome.fails("card_declined"))
    state.create_invoice(customer, 10_000, invoice_id="in_1")
    state.attempt_payment("in_1")
    state.before_next_pay("in_1", partial(state.pay_on_invoice_page, "in_1"))
    state.pay_out_of_band("in_1")
    with pytest.raises(StripeApiError, match="already paid"):
        state.pay_invoice("in_1")
    assert [c["status"] for c in state.newest_first("charge")] == ["failed"]


def test_events_name_the_api_request_that_caused_them(
    adapter: StripeAdapter, stripe_state: StripeState
) -> None:
    customer = _customer_with_card(stripe_state, CardOutcome.fails("card_declined"))
    stripe_state.create_invoice(customer, 10_000, invoice_id="in_1")
    adapter.pay_invoice("in_1", "manual-retry-1")
    events = list(reversed(stripe_state.newest_first("event")))
    automatic = [e for e in events if e["type"] == "invoice.created"]
    manual = [e for e in events if e["type"] == "charge.failed"]
    assert automatic[0]["request"] == {"id": None, "idempotency_key": None}
    assert manual[0]["request"]["idempotency_key"] == "manual-retry-1"
    assert manual[0]["request"]["id"].startswith("req_")


def test_payouts_settle_on_arrival_and_can_fail_later(clock: SimulatedClock) -> None:
    state = StripeState(clock, fee_schedule=FeeSchedule(Decimal("2.9"), 30))
    customer = _customer_with_card(state, CARD_SUCCEEDS)
    state.create_invoice(customer, 100_000, invoice_id="in_1")
    charge = state.attempt_payment("in_1").charge["id"]
    dispute = state.dispute(charge, amount=20_000)
    assert dispute["status"] == "needs_response"
    assert state.get("charge", charge)["disputed"]

    payout = state.create_payout()
    assert payout is not None
    assert payout["amount"] == 100_000 - 2_930 - 20_000 - 1_500
    # A day, as Stripe gives it: midnight UTC of the day the payout arrives, a day from now
    # (the clock reads Tuesday 1 December, 14:00 UTC).
    arrives = datetime(2026, 12, 2, tzinfo=UTC)
    assert payout["arrival_date"] == int(arrives.timestamp())
    txns = {t["type"]: t for t in state.payout_transactions(payout["id"])}
    assert txns["adjustment"]["reporting_category"] == "dispute"
    assert txns["adjustment"]["fee_details"][0]["description"] == "Dispute fee"
    assert state.create_payout() is None  # nothing left to pay out

    clock.set(arrives - timedelta(seconds=1))
    assert state.settle_payouts() == []
    clock.set(arrives)
    [settled] = state.settle_payouts()
    assert (settled["status"], settled["reconciliation_status"]) == ("paid", "completed")
    assert _types(state)[-2:] == ["payout.paid", "payout.reconciliation_completed"]

    failed = state.fail_payout(payout["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", "account_closed")
    returned = state.get("balance_transaction", failed["failure_balance_transaction"])
    assert returned["amount"] == payout["amount"]
    assert _types(state)[-1] == "payout.failed"


def test_payout_fees_round_half_up_on_each_charge(clock: SimulatedClock) -> None:
    schedule = FeeSchedule(Decimal("2.9"), 30)
    assert [schedule.fee(a) for a in (1_000, 1_050, 1_017, 0)] == [59, 60, 59, 30]
    state = StripeState(clock)
    for amount in (1_050, 1_017):
        state.orphan_payment("payer@example.com", amount)
    payout = state.create_payout(fee_rate=FeeSchedule(Decimal("3"), 0))
    assert payout is not None and payout["amount"] == (1_050 - 32) + (1_017 - 31)


def test_orphan_payments_by_channel(clock: SimulatedClock) -> None:
    state = StripeState(clock)
    link = state.orphan_payment("dana@acme.example", 4_200, via="checkout_link")
    assert link.checkout_session is not None
    assert link.checkout_session["customer_details"]["email"] == "dana@acme.example"
    assert (
        link.charge["customer"] is None
        and link.charge["billing_details"]["email"] == "dana@acme.example"
    )
    portal = state.orphan_payment("dana@acme.example", 4_200, via="portal")
    assert portal.checkout_session is None and portal.charge["customer"] is not None
    assert "checkout.session.completed" in _types(state)
    with pytest.raises(SimulationError):
        state.orphan_payment("dana@acme.example", 0)


def test_refund_and_credit_note_events(clock: SimulatedClock) -> None:
    state = StripeState(clock)
    customer = _customer_with_card(state, CARD_SUCCEEDS)
    state.create_invoice(customer, 10_000, invoice_id="in_1")
    charge = state.attempt_payment("in_1").charge["id"]
    state.create_refund(charge, reason="fraudulent")
    assert _types(state)[-2:] == ["refund.created", "charge.refunded"]
    assert state.get("charge", charge)["refunded"]

    state.create_invoice(customer, 5_000, invoice_id="in_2")
    state.issue_credit_note("in_2", 5_000, reason="duplicate")
    assert _types(state)[-2:] == ["credit_note.created", "invoice.paid"]
    assert state.get("invoice", "in_2")["status"] == "paid"


def test_a_refund_that_settles_later_is_pending_until_it_succeeds_or_fails(
    clock: SimulatedClock,
) -> None:
    state = StripeState(clock)
    state.refunds_settle_later = True
    customer = _customer_with_card(state, CARD_SUCCEEDS)
    for invoice in ("in_1", "in_2"):
        state.create_invoice(customer, 10_000, invoice_id=invoice)
    kept, lost = (state.attempt_payment(i).charge["id"] for i in ("in_1", "in_2"))
    settled, failed = (state.create_refund(c, reason="duplicate") for c in (kept, lost))
    assert (settled["status"], failed["status"]) == ("pending", "pending")

    assert state.settle_refund(settled["id"], succeeded=True)["status"] == "succeeded"
    gone = state.settle_refund(failed["id"], succeeded=False)
    assert (gone["status"], gone["failure_reason"]) == ("failed", "lost_or_stolen_card")
    assert _types(state)[-2:] == ["refund.updated", "refund.updated"]
    # The failed refund's money is back on the balance and off the charge.
    back = state.get("balance_transaction", gone["failure_balance_transaction"])
    assert (back["type"], back["amount"], back["source"]) == ("refund_failure", 10_000, gone["id"])
    charge = state.get("charge", lost)
    assert (charge["amount_refunded"], charge["refunded"]) == (0, False)
    assert charge["refunds"]["data"][0]["status"] == "failed"
    assert state.get("charge", kept)["refunded"]
    with pytest.raises(StripeApiError, match="not pending"):
        state.settle_refund(gone["id"], succeeded=True)


def test_a_charge_charged_back_is_not_refunded(clock: SimulatedClock) -> None:
    """A chargeback withdrew the money: Stripe refuses a refund (``charge_disputed``) rather
    than return it a second time."""
    state = StripeState(clock)
    customer = _customer_with_card(state, CARD_SUCCEEDS)
    state.create_invoice(customer, 10_000, invoice_id="in_1")
    charge = state.attempt_payment("in_1").charge["id"]
    state.dispute(charge, reason="duplicate")
    with pytest.raises(StripeApiError, match="has been charged back") as refused:
        state.create_refund(charge, reason="duplicate")
    assert refused.value.code == "charge_disputed"
    assert state.get("charge", charge)["amount_refunded"] == 0


def test_a_refund_that_succeeded_may_still_fail_later(clock: SimulatedClock) -> None:
    """Stripe's rare case: the card the refund went back to was closed since."""
    state = StripeState(clock)
    customer = _customer_with_card(state, CARD_SUCCEEDS)
    state.create_invoice(customer, 10_000, invoice_id="in_1")
    charge = state.attempt_payment("in_1").charge["id"]
    refund = state.create_refund(charge, reason="duplicate")
    assert refund["status"] == "succeeded"
    failed = state.settle_refund(refund["id"], succeeded=False)
    assert failed["status"] == "failed"
    (event,) = [e for e in state.newest_first("event") if e["type"] == "refund.updated"]
    assert event["data"]["previous_attributes"] == {"status": "succeeded"}
    assert state.get("charge", charge)["amount_refunded"] == 0
    with pytest.raises(StripeApiError, match="not pending"):
        state.settle_refund(refund["id"], succeeded=False)


def test_events_are_kept_for_30_days(clock: SimulatedClock) -> None:
    state = StripeState(clock)
    old = state.create_customer("old@example.com")
    clock.advance(timedelta(days=31))
    state.create_customer("new@example.com")
    assert [e["data"]["object"]["email"] for e in state.newest_first("event")] == [
        "new@example.com"
    ]
    assert state.get("customer", old["id"])["email"] == "old@example.com"


def test_the_same_seed_makes_the_same_account() -> None:
    def run(seed: int) -> list[str]:
        clock = SimulatedClock(datetime(2026, 12, 1, tzinfo=UTC))
        state = StripeState(clock, seed)
        customer = _customer_with_card(state, CardOutcome.fails("card_declined"))
        state.create_invoice(customer, 10_000)
        return [e["id"] for e in state.newest_first("event")] + [customer]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_impossible_happenings_are_refused(clock: SimulatedClock) -> None:
    state = StripeState(clock)
    customer = _customer_with_card(state, CARD_SUCCEEDS)
    with pytest.raises(SimulationError):
        state.create_invoice(customer, 10.5)  # type: ignore[arg-type]
    state.create_invoice(customer, 1_000, invoice_id="in_1")
    with pytest.raises(SimulationError):
        state.create_invoice(customer, 1_000, invoice_id="in_1")
    state.attempt_payment("in_1")
    with pytest.raises(SimulationError):
        state.attempt_payment("in_1")
