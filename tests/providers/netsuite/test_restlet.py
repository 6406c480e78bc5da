"""The RESTlet: voiding, recognition hold and release, timeline entries, and its idempotency."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from revline.money import Money
from revline.providers.base import ProviderError
from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.client import TimelineEntry
from revline.providers.netsuite.records import InvoiceStatus, RevenuePlanStatus
from revline.providers.netsuite.sim import NetSuiteSimulator
from tests.providers.netsuite.conftest import Acme


def test_void_a_duplicate_invoice(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    duplicate = sim.books.add_invoice(acme.customer, 1_250_000, number="INV-2026-1202")
    result = adapter.void_invoice(duplicate, idempotency_key="void-1")
    voided = result.invoice
    assert not result.replayed and result.unapplied_payments == ()
    assert (voided.status, voided.amount, voided.memo) == (InvoiceStatus.VOIDED, 0, "VOID")
    assert sim.books.invoice(duplicate).status is InvoiceStatus.VOIDED
    assert sim.books.invoice(acme.invoice).status is InvoiceStatus.OPEN  # the kept one
    assert adapter.credit_memos(acme.customer) == []  # voided, never credited
    again = adapter.void_invoice(duplicate, idempotency_key="void-1")
    assert again.replayed and again.invoice == voided
    assert adapter.void_invoice(duplicate, idempotency_key="void-2").replayed
    # a new key, but NetSuite already shows it voided
    calls = [r for r in sim.requests if r.path == "/app/site/hosting/restlet.nl"]
    assert [r.idempotency_key for r in calls] == ["void-1", "void-1", "void-2"]


def test_a_paid_invoice_cannot_be_voided(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    sim.books.record_customer_payment(acme.invoice, stripe_charge_id="ch_acme_1")
    with pytest.raises(ProviderError) as caught:
        adapter.void_invoice(acme.invoice, idempotency_key="void-paid")
    assert (caught.value.status, caught.value.provider_code) == (
        400,
        "REVLINE_INVOICE_HAS_PAYMENTS",
    )
    assert not caught.value.retryable
    assert sim.books.invoice(acme.invoice).status is InvoiceStatus.PAID_IN_FULL


def test_a_paid_duplicate_is_voided_with_its_payment_taken_off_and_refunded(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    """The duplicate-invoice procedure's books: the payment comes off the voided invoice and
    stays as the customer's credit, which the customer refund then uses up."""
    duplicate = sim.books.add_invoice(acme.customer, 1_250_000, number="INV-2026-1202")
    payment = sim.books.record_customer_payment(duplicate, stripe_charge_id="ch_dup")
    receivables_before = sim.books.balance("AcctRec")

    result = adapter.void_invoice(duplicate, idempotency_key="void-dup", unapply_payments=True)

    assert result.invoice.status is InvoiceStatus.VOIDED
    assert result.unapplied_payments == (payment,)
    assert sim.books.payment_unapplied(payment) == 1_250_000
    # The invoice's receivable is gone; the payment's credit to receivables remains.
    assert sim.books.balance("AcctRec") == receivables_before - 1_250_000
    refund, replayed = adapter.refund_customer(
        payment, Money(1_250_000, "USD"), "4090", memo="re_dup", idempotency_key="refund-dup"
    )
    assert not replayed
    assert sim.books.balance("AcctRec") == receivables_before
    assert sim.books.payment_unapplied(payment) == 0
    assert adapter.refund_customer(
        payment, Money(1_250_000, "USD"), "4090", memo="re_dup", idempotency_key="refund-dup"
    ) == (refund, True)
    with pytest.raises(ProviderError) as caught:  # nothing left to refund
        adapter.refund_customer(
            payment, Money(1, "USD"), "4090", memo="again", idempotency_key="refund-2"
        )
    assert caught.value.provider_code == "USER_ERROR"


def test_a_refund_in_another_currency_than_the_payment_is_refused_before_anything_is_sent(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    """NetSuite reads the amount in the payment's currency: ¥5,000 against a dollar payment
    would be a $5,000.00 refund."""
    duplicate = sim.books.add_invoice(acme.customer, 1_250_000, number="INV-2026-1202")
    payment = sim.books.record_customer_payment(duplicate, stripe_charge_id="ch_dup")
    adapter.void_invoice(duplicate, idempotency_key="void-dup", unapply_payments=True)
    with pytest.raises(ProviderError) as refused:
        adapter.refund_customer(
            payment, Money(5_000, "JPY"), "4090", memo="re_dup", idempotency_key="refund-jpy"
        )
    assert (refused.value.provider_code, refused.value.retryable) == ("currency_mismatch", False)
    assert refused.value.message == (
        f"customer payment {payment} is in USD, the refund in JPY: nothing refunded"
    )
    assert sim.books.payment_unapplied(payment) == 1_250_000
    assert not [r for r in sim.requests if r.idempotency_key == "refund-jpy"]


def test_an_invoice_named_by_a_number_that_is_another_invoices_id_is_not_voided(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    """An account numbering its invoices without a prefix: the duplicate's document number is
    another invoice's internal id. Voiding the wrong one cannot be undone: neither is voided."""
    other = sim.books.add_invoice(acme.customer, 300_000, number="INV-OTHER")
    duplicate = sim.books.add_invoice(acme.customer, 1_250_000, number=other)
    with pytest.raises(ProviderError) as refused:
        adapter.resolve_invoice(other)
    assert (refused.value.provider_code, refused.value.retryable) == ("ambiguous_invoice", False)
    assert f"the invoice with internal id {duplicate}" in refused.value.message
    assert adapter.resolve_invoice(duplicate).id == duplicate  # its own id is not a number
    assert sim.books.invoice(other).status is InvoiceStatus.OPEN
    assert sim.books.invoice(duplicate).status is InvoiceStatus.OPEN


def test_an_invoice_leaves_the_recognition_schedule(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    duplicate = sim.books.add_invoice(acme.customer, 1_250_000, number="INV-2026-1202")
    before = [p.id for p in adapter.revenue_plans(acme.customer) if p.invoice_id == duplicate]
    assert len(before) == 1
    removed = adapter.exit_revenue(duplicate, "duplicate", idempotency_key="exit-1")
    assert removed == before
    plans = adapter.revenue_plans(acme.customer)
    assert [p for p in plans if p.invoice_id == duplicate] == []
    assert any(p.invoice_id == acme.invoice for p in plans)  # the kept invoice stays
    assert adapter.exit_revenue(duplicate, "duplicate", idempotency_key="exit-2") == []


def test_one_key_for_two_different_requests_is_refused(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    other = sim.books.add_invoice(acme.customer, 100)
    adapter.void_invoice(other, idempotency_key="same-key")
    with pytest.raises(ProviderError) as caught:
        adapter.void_invoice(acme.invoice, idempotency_key="same-key")
    assert caught.value.provider_code == "REVLINE_IDEMPOTENCY_CONFLICT"
    assert sim.books.invoice(acme.invoice).status is InvoiceStatus.OPEN


def test_hold_and_release_recognition_for_dunning(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    second = sim.books.add_invoice(acme.customer, 300_000, number="INV-2026-1203")
    held = adapter.hold_revenue(acme.customer, "dunning", idempotency_key="hold-1")
    assert len(held.changed) == 2 and not held.replayed
    assert {(p.on_hold, p.hold_reason, p.status) for p in held.plans} == {
        (True, "dunning", RevenuePlanStatus.ON_HOLD)
    }
    assert adapter.hold_revenue(acme.customer, "dunning", idempotency_key="hold-1").replayed
    released = adapter.release_revenue(acme.customer, "dunning", idempotency_key="release-1")
    assert set(released.changed) == set(held.changed)
    assert {p.on_hold for p in released.plans} == {False}
    assert {p.invoice_id for p in released.plans} == {acme.invoice, second}
    assert [p.status for p in sim.books.revenue_plans(acme.customer)] == [
        RevenuePlanStatus.IN_PROGRESS
    ] * 2


def test_release_leaves_a_hold_placed_for_another_reason(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    adapter.hold_revenue(acme.customer, "contract_review", idempotency_key="hold-cr")
    dunning = adapter.hold_revenue(acme.customer, "dunning", idempotency_key="hold-d")
    assert dunning.changed == () and len(dunning.unchanged) == 1
    released = adapter.release_revenue(acme.customer, "dunning", idempotency_key="rel-d")
    assert released.changed == () and len(released.unchanged) == 1
    [plan] = sim.books.revenue_plans(acme.customer)
    assert (plan.on_hold, plan.hold_reason) == (True, "contract_review")


def test_a_sent_email_on_the_customer_timeline(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    sent = datetime(2026, 12, 1, 15, 4, 5, tzinfo=UTC)
    entry = TimelineEntry(
        customer_id=acme.customer,
        sent_at=sent,
        author="maya@ourco.example",
        recipient="dana.reyes@acme.example",
        subject="Acme Corp: invoice INV-2026-1201",
        summary="The card on file was declined; portal link sent.",
        cc=("felix@ourco.example",),
        invoice_id=acme.invoice,
    )
    message_id, replayed = adapter.log_message(entry, idempotency_key="log-1")
    assert not replayed
    assert adapter.log_message(entry, idempotency_key="log-1") == (message_id, True)
    [message] = adapter.messages(acme.customer)
    assert message == sim.books.messages(acme.customer)[0]
    assert (message.id, message.sent_at, message.author, message.recipient, message.cc) == (
        message_id,
        sent,
        "maya@ourco.example",
        "dana.reyes@acme.example",
        ("felix@ourco.example",),
    )


def test_recent_invoices_of_several_customers_voided_ones_included(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    """What the payout reconciliation reads to find a paid duplicate."""
    other = sim.books.add_customer("Bluefin Labs", "ap@bluefin.example")
    december = date(2026, 12, 1)
    bluefin = sim.books.add_invoice(other, 42_000, number="INV-2026-1301", on=december)
    voided = sim.books.add_invoice(other, 42_000, number="INV-2026-1302", on=december)
    sim.books.void_invoice(voided)
    found = adapter.customer_invoices([acme.customer, other], december)
    assert {i.id for i in found} == {acme.invoice, bluefin, voided}  # not Acme's history
    assert {i.id: i.status for i in found}[voided] is InvoiceStatus.VOIDED


@pytest.mark.parametrize(
    ("amount", "why"),
    [("abc", "amount must be a decimal string"), ("1.005", "not a whole number of minor units")],
)
def test_a_refund_amount_that_is_not_money_is_a_bad_request_never_retried(
    adapter: NetSuiteAdapter, sim: NetSuiteSimulator, acme: Acme, amount: str, why: str
) -> None:
    payment = sim.books.record_customer_payment(acme.invoice, stripe_charge_id="ch_acme_1")
    with pytest.raises(ProviderError) as refused:
        adapter.transport.restlet(
            "customer_refund",
            {"payment": int(payment), "amount": amount, "account": "4090", "memo": "x"},
            f"refund-{amount}",
        )
    assert (refused.value.status, refused.value.retryable) == (400, False)
    assert why in refused.value.message
