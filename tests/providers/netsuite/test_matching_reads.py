"""What the payout run and the orphan search read from NetSuite, against the simulator."""

from __future__ import annotations

from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.sim import NetSuiteSimulator
from revline.reconcile.emails import variants
from tests.providers.netsuite.conftest import Acme


def test_customers_and_invoices_by_id_in_one_read_each(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    other = sim.books.add_customer("Bluefin Labs", "ap@bluefin.example", stripe_customer_id="cus_b")
    found = adapter.customers([other, acme.customer, other])
    assert [(c.id, c.stripe_customer_id, c.email) for c in found] == [
        (acme.customer, "cus_acme", "billing@acme.example"),
        (other, "cus_b", "ap@bluefin.example"),
    ]
    assert found[0].accounts_payable_contact is not None
    (invoice,) = adapter.invoices([acme.invoice])
    assert (invoice.stripe_invoice_id, invoice.number) == ("in_acme_1", "INV-2026-1201")
    assert adapter.customers([]) == [] and adapter.invoices([]) == []


def test_a_payment_keyed_without_its_charge_id_reads_back_with_its_customer_and_invoice(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    """What the tolerance and invoice-id tiers need is on the records the run reads."""
    sim.books.record_customer_payment(acme.invoice)  # by hand: no charge id
    (payment,) = adapter.undeposited_payments()
    assert payment.stripe_charge_id is None
    (customer,) = adapter.customers([payment.customer_id])
    (invoice,) = adapter.invoices(payment.applied_invoices)
    assert (customer.stripe_customer_id, invoice.stripe_invoice_id) == ("cus_acme", "in_acme_1")


def test_a_search_for_the_variants_of_an_email_finds_customers_and_contacts(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    sim.books.add_customer("Aurelius Partners", "Finance@Aurelius.example")

    def found(payer: str) -> set[tuple[str, str, str]]:
        return {
            (e.email, e.customer_id, e.source) for e in adapter.customer_emails(variants(payer))
        }

    assert found("billing@acme.example") == {("billing@acme.example", acme.customer, "customer")}
    # The contact's address, typed with a swapped letter and without its dot.
    assert found("dnaareyes@acme.example") == {
        ("dana.reyes@acme.example", acme.customer, "contact")
    }
    # A domain typo no table lists: one letter off.
    assert found("billing@acme.exmaple") == {("billing@acme.example", acme.customer, "customer")}
    # On file in another case.
    (aurelius,) = found("finance@aurelius.example")
    assert aurelius[0] == "Finance@Aurelius.example"
    assert found("someone@else.example") == set()
    # On file with its own +tag, typed without it (and the other way round).
    tagged = sim.books.add_customer("Corvid Ltd", "pat+billing@corvid.example")
    assert found("pat@corvid.example") == {("pat+billing@corvid.example", tagged, "customer")}
    assert found("Pat+Invoices@corvid.example") == {
        ("pat+billing@corvid.example", tagged, "customer")
    }
    # A plus sign after the @ is not a tag.
    sim.books.add_customer("Odd Domain", "kim@odd+domain.example")
    assert found("kim@odd.example") == set()


def test_the_payments_applied_to_invoices_are_read_in_one_query(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    """Where a duplicate invoice's payment is found when it was deposited on an earlier day."""
    copy = sim.books.add_invoice(acme.customer, 1_250_000, number="INV-2026-1202")
    first = sim.books.record_customer_payment(acme.invoice, stripe_charge_id="ch_acme_1")
    second = sim.books.record_customer_payment(copy, stripe_charge_id="ch_acme_2")
    (paid,) = adapter.customer_payments_applied_to([copy])
    assert (paid.id, paid.stripe_charge_id, paid.applied_invoices) == (second, "ch_acme_2", (copy,))
    both = adapter.customer_payments_applied_to([copy, acme.invoice, copy])
    assert [p.id for p in both] == [first, second]
    assert adapter.customer_payments_applied_to([]) == []
