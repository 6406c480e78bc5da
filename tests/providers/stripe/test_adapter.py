"""The adapter against the simulator over real HTTP: every capability, as records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from revline.clock import SimulatedClock
from revline.errors import ConfigError
from revline.providers.stripe.client import IDEMPOTENCY_KEY_METADATA, StripeAdapter
from revline.providers.stripe.errors import StripeRequestError
from revline.providers.stripe.records import Invoice
from revline.providers.stripe.sim import (
    CardOutcome,
    FeeSchedule,
    SimulationError,
    StripeSimulator,
    StripeState,
)
from tests.conftest import make_settings


def test_customers_list_search_retrieve_and_metadata(
    adapter: StripeAdapter, stripe_state: StripeState, clock: SimulatedClock
) -> None:
    acme = stripe_state.create_customer("Billing@acme.example", "Acme Corp", {"crm": "A-1"})
    stripe_state.create_customer("ops@globex.example", "Globex")

    # The list's email filter is exact and case-sensitive.
    assert [c.id for c in adapter.list_customers(email="Billing@acme.example")] == [acme["id"]]
    assert adapter.list_customers(email="billing@acme.example") == []
    assert len(adapter.list_customers()) == 2

    # Search is not read-after-write: a new customer appears about a minute later.
    assert adapter.search_customers("billing@acme.example") == []
    clock.advance(timedelta(seconds=61))
    [found] = adapter.search_customers("billing@acme.example")
    assert (found.id, found.name, found.metadata) == (acme["id"], "Acme Corp", {"crm": "A-1"})
    assert adapter.search_customers("o'brien@nowhere.example") == []

    updated = adapter.update_customer_metadata(acme["id"], {"tier": "gold", "crm": ""}, "meta-1")
    assert updated.metadata == {"tier": "gold"}
    assert adapter.get_customer(acme["id"]).metadata == {"tier": "gold"}


def test_a_deleted_customer_is_missing(adapter: StripeAdapter, stripe_state: StripeState) -> None:
    """Stripe answers a deleted customer with a stub, nothing else: the adapter says it is
    missing (``resource_missing``) rather than read a customer out of nothing."""
    gone = stripe_state.create_customer("ap@gone.example", "Gone Ltd")
    stripe_state.delete_customer(gone["id"])
    with pytest.raises(StripeRequestError, match="was deleted") as missing:
        adapter.get_customer(gone["id"])
    assert (missing.value.provider_code, missing.value.retryable) == ("resource_missing", False)


def test_invoices_list_retrieve_and_last_failure(
    adapter: StripeAdapter, stripe_state: StripeState
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    other = stripe_state.create_customer("ops@globex.example", "Globex")
    stripe_state.set_card(acme["id"], CardOutcome.fails("card_declined", "insufficient_funds"))
    start = datetime(2026, 12, 1, tzinfo=UTC)
    stripe_state.create_invoice(
        acme["id"],
        1_250_000,
        invoice_id="in_acme_1",
        number="INV-2026-1201",
        subscription="sub_acme",
        period_start=start,
        period_end=datetime(2027, 1, 1, tzinfo=UTC),
    )
    stripe_state.attempt_payment("in_acme_1")
    stripe_state.create_invoice(other["id"], 9_900, invoice_id="in_globex_1")
    stripe_state.attempt_payment("in_globex_1")

    assert [i.id for i in adapter.list_invoices(customer=acme["id"])] == ["in_acme_1"]
    assert [i.id for i in adapter.list_invoices(status="paid")] == ["in_globex_1"]
    assert {i.id for i in adapter.list_invoices()} == {"in_acme_1", "in_globex_1"}

    invoice = adapter.get_invoice("in_acme_1", with_last_failure=True)
    assert invoice.number == "INV-2026-1201"
    assert invoice.status == "open"
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (
        1_250_000,
        0,
        1_250_000,
    )
    assert invoice.currency == "usd"
    assert invoice.subscription == "sub_acme"
    assert invoice.period.start == start
    assert invoice.attempt_count == 1 and invoice.attempted
    assert invoice.auto_advance
    assert invoice.next_payment_attempt == stripe_state.clock.now() + timedelta(hours=1)
    assert invoice.billing_reason == "subscription_cycle"
    assert invoice.hosted_invoice_url and invoice.hosted_invoice_url.startswith("https://")
    assert (invoice.last_failure_code, invoice.last_decline_code) == (
        "card_declined",
        "insufficient_funds",
    )
    assert adapter.get_invoice("in_acme_1").last_failure_code is None  # not looked up

    off = adapter.set_auto_advance("in_acme_1", False, "stop-1", metadata={"why": "manual"})
    assert (off.auto_advance, off.next_payment_attempt, off.metadata) == (
        False,
        None,
        {"why": "manual"},
    )


def test_manual_retry_declined_then_paid_after_card_update(
    adapter: StripeAdapter, stripe_state: StripeState
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    stripe_state.set_card(acme["id"], CardOutcome.fails("card_declined"))
    stripe_state.create_invoice(acme["id"], 1_250_000, invoice_id="in_acme_1")
    stripe_state.attempt_payment("in_acme_1")

    declined = adapter.pay_invoice("in_acme_1", "pay-1")
    assert declined.outcome == "declined"
    assert (declined.code, declined.decline_code) == ("card_declined", "generic_decline")
    assert declined.message == "Your card was declined."
    assert declined.invoice.status == "open" and declined.invoice.attempt_count == 2
    assert declined.charge is not None
    assert adapter.get_charge(declined.charge).status == "failed"

    stripe_state.card_updated(acme["id"])
    paid = adapter.pay_invoice("in_acme_1", "pay-2")
    assert (paid.outcome, paid.invoice.status, paid.already_paid) == ("paid", "paid", False)
    assert paid.invoice.amount_paid == 1_250_000 and paid.invoice.amount_remaining == 0

    again = adapter.pay_invoice("in_acme_1", "pay-3")
    assert (again.outcome, again.already_paid) == ("paid", True)
    assert adapter.get_invoice("in_acme_1").attempt_count == 3  # no charge for "pay-3"


def test_a_repeated_declined_retry_finds_its_own_decline_after_the_key_is_pruned(
    adapter: StripeAdapter, stripe_state: StripeState, clock: SimulatedClock
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    stripe_state.set_card(acme["id"], CardOutcome.fails("card_declined", "do_not_honor"))
    stripe_state.create_invoice(acme["id"], 50_000, invoice_id="in_acme_1")
    first = adapter.pay_invoice("in_acme_1", "pay-1", attempt=1)
    clock.advance(timedelta(hours=25))  # Stripe has forgotten "pay-1"

    repeat = adapter.pay_invoice("in_acme_1", "pay-1", attempt=2)
    assert (repeat.outcome, repeat.decline_code, repeat.charge) == (
        "declined",
        "do_not_honor",
        first.charge,
    )
    assert adapter.get_invoice("in_acme_1").attempt_count == 1  # not charged again


def test_charges_payment_intents_and_their_invoice(
    adapter: StripeAdapter, stripe_state: StripeState
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    stripe_state.create_invoice(acme["id"], 20_000, invoice_id="in_acme_1")
    attempt = stripe_state.attempt_payment("in_acme_1")

    [listed] = adapter.list_charges(acme["id"])
    charge = adapter.get_charge(listed.id)
    assert charge.id == attempt.charge["id"]
    assert (charge.amount, charge.currency, charge.status, charge.paid) == (
        20_000,
        "usd",
        "succeeded",
        True,
    )
    assert charge.invoice == "in_acme_1"
    assert charge.customer == acme["id"]
    assert charge.billing_email == "billing@acme.example"
    assert charge.outcome.type == "authorized"
    assert charge.balance_transaction is not None and charge.balance_transaction.startswith("txn_")

    intent = adapter.get_payment_intent(str(charge.payment_intent))
    assert (intent.status, intent.amount_received, intent.latest_charge) == (
        "succeeded",
        20_000,
        charge.id,
    )
    assert adapter.invoice_for_payment_intent(intent.id) == "in_acme_1"


def test_refunds_once_per_key_even_after_stripe_forgets_the_key(
    adapter: StripeAdapter, stripe_state: StripeState, clock: SimulatedClock
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    stripe_state.create_invoice(acme["id"], 30_000, invoice_id="in_acme_1")
    charge = stripe_state.attempt_payment("in_acme_1").charge["id"]

    refund = adapter.create_refund(charge, 10_000, "duplicate", "refund-1")
    assert (refund.amount, refund.reason, refund.status, refund.charge) == (
        10_000,
        "duplicate",
        "succeeded",
        charge,
    )
    assert refund.metadata == {IDEMPOTENCY_KEY_METADATA: "refund-1"}
    assert adapter.create_refund(charge, 10_000, "duplicate", "refund-1") == refund

    clock.advance(timedelta(hours=30))
    assert adapter.create_refund(charge, 10_000, "duplicate", "refund-1") == refund
    assert [r.id for r in adapter.list_refunds(charge)] == [refund.id]
    assert adapter.get_charge(charge).amount_refunded == 10_000

    second = adapter.create_refund(
        charge, 20_000, "requested_by_customer", "refund-2", {"revline_duplicate_invoice": "12"}
    )
    assert second.id != refund.id
    # What names the case stays on the refund beside the key, for the webhooks of it later.
    assert second.metadata == {
        "revline_duplicate_invoice": "12",
        IDEMPOTENCY_KEY_METADATA: "refund-2",
    }
    assert adapter.get_charge(charge).refunded

    with pytest.raises(StripeRequestError) as too_much:
        adapter.create_refund(charge, 1, "duplicate", "refund-3")
    assert (too_much.value.status, too_much.value.retryable) == (400, False)
    assert too_much.value.provider_code == "charge_already_refunded"
    with pytest.raises(StripeRequestError, match="refund reason"):
        adapter.create_refund(charge, 1, "because", "refund-4")


def test_a_charges_disputes_and_how_they_end(
    adapter: StripeAdapter, stripe_state: StripeState
) -> None:
    """Open, the charged-back charge cannot be refunded; won, the money is back and it can;
    Stripe keeps the charge ``disputed`` either way, so the dispute says which."""
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    stripe_state.create_invoice(acme["id"], 30_000, invoice_id="in_acme_1")
    charge = stripe_state.attempt_payment("in_acme_1").charge["id"]
    assert adapter.list_disputes(charge) == []

    opened = stripe_state.dispute(charge, reason="duplicate")
    (dispute,) = adapter.list_disputes(charge)
    assert (dispute.id, dispute.status, dispute.open, dispute.amount) == (
        opened["id"],
        "needs_response",
        True,
        30_000,
    )
    with pytest.raises(StripeRequestError, match="has been charged back"):
        adapter.create_refund(charge, 30_000, "duplicate", "refund-disputed")

    stripe_state.close_dispute(opened["id"], won=True)
    (won,) = adapter.list_disputes(charge)
    assert (won.status, won.open, won.is_charge_refundable) == ("won", False, True)
    assert adapter.get_charge(charge).disputed
    assert adapter.create_refund(charge, 30_000, "duplicate", "refund-won").status == "succeeded"


def test_credit_notes_by_invoice_and_customer(
    adapter: StripeAdapter, stripe_state: StripeState
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    stripe_state.create_invoice(acme["id"], 30_000, invoice_id="in_acme_1", number="INV-9")
    stripe_state.create_invoice(acme["id"], 10_000, invoice_id="in_acme_2")
    stripe_state.attempt_payment("in_acme_2")
    stripe_state.issue_credit_note("in_acme_1", 5_000, reason="order_change", memo="seats")
    stripe_state.issue_credit_note("in_acme_2", 2_500, reason="product_unsatisfactory")

    [pre] = adapter.list_credit_notes(invoice="in_acme_1")
    assert (pre.number, pre.amount, pre.type, pre.status, pre.memo) == (
        "INV-9-CN-01",
        5_000,
        "pre_payment",
        "issued",
        "seats",
    )
    assert adapter.get_invoice("in_acme_1").amount_remaining == 25_000
    notes = adapter.list_credit_notes(customer=acme["id"])
    assert [(n.invoice, n.type) for n in notes] == [
        ("in_acme_2", "post_payment"),
        ("in_acme_1", "pre_payment"),
    ]


def test_payouts_and_their_balance_transactions(
    adapter: StripeAdapter, stripe_state: StripeState, clock: SimulatedClock
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    for n, amount in enumerate((100_000, 25_000), start=1):
        stripe_state.create_invoice(acme["id"], amount, invoice_id=f"in_acme_{n}")
        stripe_state.attempt_payment(f"in_acme_{n}")
    charge = adapter.list_charges(acme["id"])[-1]
    stripe_state.create_refund(charge.id, amount=10_000, reason="requested_by_customer")
    arrival = datetime(2026, 12, 3, tzinfo=UTC)
    payout = stripe_state.create_payout(arrival_date=arrival)
    assert payout is not None

    [listed] = adapter.list_payouts(arrival_from=arrival, arrival_until=arrival)
    assert adapter.list_payouts(arrival_from=arrival + timedelta(days=1)) == []
    assert adapter.list_payouts(created_until=clock.now() - timedelta(seconds=1)) == []
    assert (listed.id, listed.status, listed.automatic, listed.arrival_date) == (
        payout["id"],
        "in_transit",
        True,
        arrival,
    )
    txns = adapter.payout_transactions(payout["id"])
    by_type = sorted((t.type, t.amount, t.fee, t.net) for t in txns)
    # 2.9 % + 30¢: 2,930 on 1,000.00 and 755 on 250.00; refunds carry no fee.
    assert by_type == [
        ("charge", 25_000, 755, 24_245),
        ("charge", 100_000, 2_930, 97_070),
        ("payout", -111_315, 0, -111_315),
        ("refund", -10_000, 0, -10_000),
    ]
    assert listed.amount == 111_315 == sum(t.net for t in txns if t.type != "payout")
    fees = [d for t in txns for d in t.fee_details]
    assert {(d.type, d.currency) for d in fees} == {("stripe_fee", "usd")}
    assert {t.reporting_category for t in txns} == {"charge", "refund", "payout"}

    clock.set(arrival)
    stripe_state.settle_payouts()
    paid = adapter.get_payout(payout["id"])
    assert (paid.status, paid.reconciliation_status) == ("paid", "completed")


def test_a_manual_payout_takes_from_the_balance_and_stripe_does_not_itemise_it(
    adapter: StripeAdapter, stripe_state: StripeState
) -> None:
    """A payout made by hand in the Dashboard settles no movement in particular: Stripe refuses
    to list its balance transactions, and the account makes no automatic payout after it."""
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    stripe_state.create_invoice(acme["id"], 100_000, invoice_id="in_acme_1")
    stripe_state.attempt_payment("in_acme_1")
    with pytest.raises(SimulationError, match="available balance of 97070"):
        stripe_state.create_manual_payout(97_071)
    payout = stripe_state.create_manual_payout(60_000)

    listed = adapter.get_payout(payout["id"])
    assert (listed.automatic, listed.amount, listed.status) == (False, 60_000, "in_transit")
    with pytest.raises(StripeRequestError) as refused:
        adapter.payout_transactions(payout["id"])
    assert "can only be filtered on automatic transfers, not manual" in str(refused.value)
    assert not refused.value.retryable
    (own,) = [t for t in stripe_state.newest_first("balance_transaction") if t["type"] == "payout"]
    assert (own["amount"], own["source"]) == (-60_000, payout["id"])
    with pytest.raises(SimulationError, match="pays out by hand"):
        stripe_state.create_payout()


def test_a_payout_of_more_than_a_page_is_read_across_pages(
    adapter: StripeAdapter, stripe_state: StripeState
) -> None:
    for n in range(130):
        stripe_state.orphan_payment(f"payer{n}@example.com", 1_000 + n)
    payout = stripe_state.create_payout(fee_rate=FeeSchedule(percent=Decimal(0), fixed=25))
    assert payout is not None
    txns = adapter.payout_transactions(payout["id"])
    assert len(txns) == 131
    assert len({t.id for t in txns}) == 131
    charges = [t for t in txns if t.type == "charge"]
    assert all(t.fee == 25 for t in charges)
    assert payout["amount"] == sum(1_000 + n - 25 for n in range(130))


def test_portal_session_and_telling_checkout_from_portal_payments(
    adapter: StripeAdapter, stripe_state: StripeState
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    session = adapter.create_portal_session(
        acme["id"], "portal-1", return_url="https://ourco.example/"
    )
    assert session.id.startswith("bps_") and session.url.startswith("https://")
    assert (session.customer, session.return_url) == (acme["id"], "https://ourco.example/")

    link = stripe_state.orphan_payment("payer@acme.example", 4_200, via="checkout_link")
    portal = stripe_state.orphan_payment(
        "payer@acme.example", 4_200, via="portal", customer_id=acme["id"]
    )

    found = adapter.checkout_session_for(link.payment_intent["id"])
    assert found is not None
    assert (found.email, found.mode, found.payment_status, found.customer) == (
        "payer@acme.example",
        "payment",
        "paid",
        None,
    )
    assert adapter.get_checkout_session(found.id) == found
    assert adapter.checkout_session_for(portal.payment_intent["id"]) is None
    charge = adapter.get_charge(portal.charge["id"])
    assert (charge.customer, charge.billing_email, charge.invoice) == (
        acme["id"],
        "payer@acme.example",
        None,
    )
    link_charge = adapter.get_charge(link.charge["id"])
    assert (link_charge.customer, link_charge.receipt_email) == (None, "payer@acme.example")


def test_events_since_a_time_and_after_an_event_oldest_first(
    adapter: StripeAdapter, stripe_state: StripeState, clock: SimulatedClock
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    clock.advance(timedelta(minutes=1))
    stripe_state.create_invoice(acme["id"], 1_000, invoice_id="in_acme_1")
    stripe_state.attempt_payment("in_acme_1")

    everything = adapter.events_since(clock.now() - timedelta(days=1))
    assert [e.type for e in everything] == [
        "customer.created",
        "invoice.created",
        "invoice.finalized",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    assert everything[1].object_id == "in_acme_1"
    assert everything[1].payload["data"]["object"]["id"] == "in_acme_1"
    assert [e.id for e in adapter.events_after(everything[2].id)] == [e.id for e in everything[3:]]
    paid = adapter.events_after(everything[0].id, types=["invoice.paid", "invoice.created"])
    assert [e.type for e in paid] == ["invoice.created", "invoice.paid"]
    assert adapter.events_since(clock.now(), types=["customer.created"]) == []


def test_the_adapter_from_settings(sim: StripeSimulator, stripe_state: StripeState) -> None:
    settings = make_settings(stripe_api_key=sim.api_key, stripe_api_base=sim.url)
    customer = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    assert StripeAdapter.from_settings(settings).get_customer(customer["id"]).name == "Acme Corp"
    with pytest.raises(ConfigError, match="stripe_api_key"):
        StripeAdapter.from_settings(make_settings())


def test_an_invoice_paid_while_the_retry_was_on_its_way_is_reported_paid(
    adapter: StripeAdapter, stripe_state: StripeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    stripe_state.set_card(acme["id"], CardOutcome.fails("card_declined"))
    stripe_state.create_invoice(acme["id"], 50_000, invoice_id="in_acme_1")
    stripe_state.attempt_payment("in_acme_1")
    read = adapter.get_invoice

    def read_then_bank_transfer_lands(invoice_id: str, **kwargs: bool) -> Invoice:
        seen = read(invoice_id, **kwargs)
        if seen.status == "open":
            stripe_state.pay_out_of_band(invoice_id)
        return seen

    monkeypatch.setattr(adapter, "get_invoice", read_then_bank_transfer_lands)
    result = adapter.pay_invoice("in_acme_1", "pay-race")
    assert (result.outcome, result.already_paid, result.invoice.status) == ("paid", True, "paid")
    assert stripe_state.get("invoice", "in_acme_1")["attempt_count"] == 1
