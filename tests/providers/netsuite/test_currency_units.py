"""Minor units are Stripe's for every currency: an ISK amount Stripe gives as ``50000`` is 500
kr. in NetSuite, and a HUF amount of ``1045`` is 10.45 Ft, whatever CLDR says of their digits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from revline.money import Money
from revline.providers.base import ProviderError
from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.sim import NetSuiteSimulator
from revline.providers.netsuite.sim.books import BooksError


@pytest.mark.parametrize(
    ("currency", "stripe_amount", "in_netsuite"),
    [
        ("ISK", 50_000, Decimal("500")),  # Stripe keeps two decimals; NetSuite whole krónur
        ("HUF", 1_045, Decimal("10.45")),
        ("JPY", 1_200, Decimal("1200")),
        ("USD", 1_250_000, Decimal("12500.00")),
    ],
)
def test_an_invoice_and_its_payment_keep_stripes_amount(
    adapter: NetSuiteAdapter,
    sim: NetSuiteSimulator,
    currency: str,
    stripe_amount: int,
    in_netsuite: Decimal,
) -> None:
    customer = sim.books.add_customer(
        "Reykjavik Roasters", "ap@roasters.example", stripe_customer_id="cus_rr", currency=currency
    )
    invoice_id = sim.books.add_invoice(
        customer, stripe_amount, number="INV-2026-1400", stripe_charge_id="ch_rr"
    )
    assert adapter.get_record("invoice", invoice_id)["total"] == in_netsuite

    invoice = adapter.invoice(invoice_id)
    assert invoice is not None
    assert invoice.money == Money(stripe_amount, currency)

    payment, existed = adapter.record_payment(
        invoice_id, stripe_charge_id="ch_rr", idempotency_key="pay-rr", amount=stripe_amount
    )
    assert not existed
    assert (payment.amount, payment.currency) == (stripe_amount, currency)
    assert adapter.get_record("customerPayment", payment.id)["payment"] == in_netsuite
    paid = adapter.invoice(invoice_id)
    assert paid is not None and paid.amount_remaining == 0


def test_an_amount_netsuite_cannot_hold_in_the_currency_is_refused(
    sim: NetSuiteSimulator,
) -> None:
    customer = sim.books.add_customer("Reykjavik Roasters", currency="ISK")
    with pytest.raises(BooksError, match="more decimals than NetSuite keeps"):
        sim.books.add_invoice(customer, 50_050, number="INV-2026-1401")  # 500.50 kr.


def test_netsuite_refuses_an_amount_it_cannot_hold_over_its_api(
    adapter: NetSuiteAdapter, sim: NetSuiteSimulator
) -> None:
    """250.50 kr. on a whole-króna invoice: refused, as the books' own helpers refuse it."""
    customer = sim.books.add_customer("Reykjavik Roasters", currency="ISK")
    invoice = sim.books.add_invoice(customer, 50_000, number="INV-2026-1402")
    with pytest.raises(ProviderError) as refused:
        adapter.record_payment(
            invoice, stripe_charge_id="ch_rr", idempotency_key="pay-half", amount=25_050
        )
    assert (refused.value.status, refused.value.retryable) == (400, False)
    assert "more decimals than NetSuite keeps" in refused.value.message
    assert adapter.customer_payments_by_charge("ch_rr") == []
