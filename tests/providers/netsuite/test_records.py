"""REST records, transforms and the lookups the playbooks enrich their facts with."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from revline.clock import SimulatedClock
from revline.providers.base import ProviderError
from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.records import InvoiceStatus
from revline.providers.netsuite.sim import NetSuiteSimulator
from revline.reconcile.emails import variants
from tests.providers.netsuite.conftest import Acme


def test_create_get_and_patch_a_customer(sim: NetSuiteSimulator, adapter: NetSuiteAdapter) -> None:
    owner = sim.books.add_employee("Felix Nordstrom", "felix@ourco.example")
    customer_id = adapter.create_record(
        "customer",
        {
            "companyName": "Halberd Cybersecurity",
            "email": "ap@halberd.example",
            "salesRep": {"id": owner},
            "custentity_stripe_customer_id": "cus_halberd",
        },
        idempotency_key="k-create",
    )
    record = adapter.get_record("customer", customer_id)
    assert record["companyName"] == "Halberd Cybersecurity"
    assert record["salesRep"]["refName"] == "Felix Nordstrom"
    adapter.update_record(
        "customer", customer_id, {"email": "billing@halberd.example"}, idempotency_key="k-patch"
    )
    customer = adapter.customer_by_stripe_id("cus_halberd")
    assert customer is not None and customer.id == customer_id
    assert customer.email == "billing@halberd.example"  # patched
    assert customer.name == "Halberd Cybersecurity"  # untouched
    create, patch = [
        r for r in sim.requests if r.method != "GET" and "/record/v1/customer" in r.path
    ]
    assert (create.status, create.idempotency_key) == (204, "k-create")
    assert (patch.method, patch.status, patch.idempotency_key) == ("PATCH", 204, "k-patch")


def test_an_unknown_field_is_refused_not_silently_dropped(adapter: NetSuiteAdapter) -> None:
    with pytest.raises(ProviderError) as caught:
        adapter.create_record(
            "customer",
            {"companyName": "Typo Inc", "custentity_strip_customer_id": "cus_1"},
            idempotency_key="k",
        )
    assert (caught.value.status, caught.value.provider_code) == (400, "INVALID_PARAMETER")
    assert "custentity_strip_customer_id" in caught.value.message


def test_a_missing_record_is_404_not_retried(adapter: NetSuiteAdapter) -> None:
    with pytest.raises(ProviderError) as caught:
        adapter.get_record("invoice", "424242")
    assert (caught.value.status, caught.value.provider_code) == (404, "NONEXISTENT_ID")
    assert not caught.value.retryable


def test_the_customer_with_its_accounts_payable_contact_and_owner(
    adapter: NetSuiteAdapter, acme: Acme
) -> None:
    customer = adapter.customer_by_stripe_id("cus_acme")
    assert customer is not None
    assert [contact.name for contact in customer.contacts] == ["Dana Reyes", "Sam Ortiz"]
    ap = customer.accounts_payable_contact
    assert ap is not None
    assert (ap.first_name, ap.email, ap.role) == (
        "Dana",
        "dana.reyes@acme.example",
        "Accounts Payable",
    )
    assert customer.relationship_owner is not None
    assert customer.relationship_owner.email == "felix@ourco.example"
    assert adapter.resolve_customer("BILLING@acme.example").id == acme.customer
    assert adapter.resolve_customer(acme.customer).id == acme.customer


def test_an_accounts_payable_flag_marks_the_contact_whatever_its_role(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter
) -> None:
    customer = sim.books.add_customer("Northgate Capital", "ops@northgate.example")
    sim.books.add_contact(customer, "Ana", "Lima", "ana@northgate.example", role="Primary Contact")
    sim.books.add_contact(
        customer, "Bo", "Chen", "bo@northgate.example", role=None, accounts_payable=True
    )
    found = adapter.customer(customer)
    assert found is not None and found.accounts_payable_contact is not None
    assert found.accounts_payable_contact.email == "bo@northgate.example"


def test_orphan_payment_candidates(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    sim.books.add_customer("Aurelius Partners", "finance@aurelius.example")
    searched = [*variants("dana.reyes@acme.example"), *variants("finance@aurelius.example")]
    emails = {(entry.email, entry.source) for entry in adapter.customer_emails(searched)}
    assert ("dana.reyes@acme.example", "contact") in emails
    assert ("finance@aurelius.example", "customer") in emails
    assert [c.name for c in adapter.search_customers(email_contains="ACME.example")] == [
        "Acme Corp"
    ]
    assert [c.name for c in adapter.search_customers(name_contains="aurel")] == [
        "Aurelius Partners"
    ]
    assert adapter.customers_by_email("billing@acme.exmaple") == []  # a typo matches nothing


def test_invoices_by_number_stripe_id_and_open(adapter: NetSuiteAdapter, acme: Acme) -> None:
    invoice = adapter.invoice_by_number("INV-2026-1201")
    assert invoice is not None
    assert (invoice.id, invoice.amount, invoice.currency) == (acme.invoice, 1_250_000, "USD")
    assert (invoice.stripe_charge_id, invoice.stripe_subscription_id) == ("ch_acme_1", "sub_acme")
    assert invoice.status is InvoiceStatus.OPEN and invoice.date == date(2026, 12, 1)
    assert [i.id for i in adapter.invoices_by_stripe_invoice("in_acme_1")] == [acme.invoice]
    assert [i.id for i in adapter.open_invoices(acme.customer)] == [acme.invoice]  # history paid


def test_a_charge_in_another_currency_than_its_invoice_is_refused(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    """NetSuite reads a payment's amount in its invoice's currency: 420.00 euros recorded on a
    dollar invoice would be $420.00. Refused, and nothing is recorded."""
    with pytest.raises(ProviderError, match="charge ch_eur is in EUR; invoice INV-2026-1201 is"):
        adapter.record_payment(
            acme.invoice,
            stripe_charge_id="ch_eur",
            amount=42_000,
            currency="eur",
            idempotency_key="pay-eur",
        )
    assert sim.books.customer_payments() == []
    payment, _ = adapter.record_payment(
        acme.invoice, stripe_charge_id="ch_acme_1", currency="usd", idempotency_key="pay-usd"
    )
    assert payment.amount == 1_250_000


def test_a_charge_becomes_one_payment_in_undeposited_funds(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    payment, replayed = adapter.record_payment(
        acme.invoice, stripe_charge_id="ch_acme_1", idempotency_key="pay-1"
    )
    assert not replayed
    assert (payment.amount, payment.undeposited, payment.applied_invoices) == (
        1_250_000,
        True,
        (acme.invoice,),
    )
    again, replayed = adapter.record_payment(
        acme.invoice, stripe_charge_id="ch_acme_1", idempotency_key="pay-1"
    )
    assert replayed and again.id == payment.id
    assert len(sim.books.customer_payments()) == 1
    transforms = [r for r in sim.requests if "!transform" in r.path]
    assert [(r.path, r.status) for r in transforms] == [
        (f"/services/rest/record/v1/invoice/{acme.invoice}/!transform/customerPayment", 204)
    ]
    invoice = adapter.invoice(acme.invoice)
    assert invoice is not None and invoice.status is InvoiceStatus.PAID_IN_FULL
    assert [p.id for p in adapter.undeposited_payments()] == [payment.id]
    assert adapter.undeposited_funds_balance("USD").amount == 1_250_000


def test_credit_memos(sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme) -> None:
    memo_id = sim.books.add_credit_memo(acme.invoice, 50_000, memo="goodwill")
    [memo] = adapter.credit_memos(acme.customer)
    assert (memo.id, memo.amount, memo.invoice_id, memo.memo) == (
        memo_id,
        50_000,
        acme.invoice,
        "goodwill",
    )


def test_a_payment_entered_without_a_date_is_dated_the_accounts_day(
    clock: SimulatedClock,
) -> None:
    """9 p.m. in New York is already tomorrow in UTC: NetSuite dates the payment by the
    account's time zone, as a person keying it that evening sees it."""
    clock.set(datetime(2026, 12, 1, 21, 0, tzinfo=ZoneInfo("America/New_York")))
    with NetSuiteSimulator(clock, seed=11, timezone="America/New_York") as sim:
        customer = sim.books.add_customer("Acme Corp", "billing@acme.example")
        invoice = sim.books.add_invoice(customer, 42_000, number="INV-2026-1360")
        sim.books.record_customer_payment(invoice)
        (payment,) = sim.books.customer_payments()
    assert payment.date == date(2026, 12, 1)
