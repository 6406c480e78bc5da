"""Closed and locked accounting periods: a late entry is posted in the first open period.

The morning run records a payment NetSuite missed, and an orphan's match records its payment,
on the day the customer paid; a payout's deposit is dated the day it arrived. When that day's
period has been closed (or locked to the transaction) since, NetSuite refuses the date, so the
adapter dates the entry on the first day of the first period that takes it and says why in the
memo, as an accountant posts a late entry.
"""

from __future__ import annotations

from datetime import date

import pytest

from revline.clock import SimulatedClock
from revline.providers.base import ActionRequest, ProviderError
from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.deposits import DepositLineRequest, DepositRequest
from revline.providers.netsuite.sim import BooksError, NetSuiteSimulator
from tests.providers.netsuite.conftest import Acme, handler_of

PAID = date(2026, 11, 27)  # the Friday after Thanksgiving; November is closed by December


def _payment(adapter: NetSuiteAdapter, acme: Acme) -> tuple[str, str, str]:
    """Record Acme's charge as paid on ``PAID``; the payment's date, memo and period."""
    payment, replayed = adapter.record_payment(
        acme.invoice, stripe_charge_id="ch_acme_1", on=PAID, idempotency_key="k-pay"
    )
    assert not replayed
    record = adapter.get_record("customerPayment", payment.id)
    return payment.date.isoformat(), record.get("memo", ""), record["postingPeriod"]["refName"]


def test_a_payment_is_dated_the_day_the_customer_paid_while_its_month_is_open(
    adapter: NetSuiteAdapter, acme: Acme
) -> None:
    assert _payment(adapter, acme) == ("2026-11-27", "", "Nov 2026")


@pytest.mark.parametrize("how", ["closed", "ar", "all"])
def test_a_payment_meant_for_a_closed_month_is_posted_on_the_first_open_day(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme, how: str
) -> None:
    sim.books.close_period("2026-11", how)

    dated, memo, period = _payment(adapter, acme)

    assert (dated, period) == ("2026-12-01", "Dec 2026")
    assert memo == (
        "Stripe charge ch_acme_1 paid 2026-11-27; Nov 2026 is closed, recorded on 2026-12-01"
    )


def test_netsuite_itself_refuses_a_payment_dated_in_a_closed_month(
    sim: NetSuiteSimulator, acme: Acme
) -> None:
    """What the adapter avoids: the simulator refuses the date as NetSuite does."""
    sim.books.close_period("2026-11")
    with pytest.raises(BooksError, match="Nov 2026 is closed or locked"):
        sim.books.record_customer_payment(acme.invoice, stripe_charge_id="ch_x", on=PAID)
    assert sim.books.customer_payments() == []


def _deposit(adapter: NetSuiteAdapter, arrived: str) -> dict[str, object]:
    handler = handler_of(adapter, "netsuite.deposit.create")
    lines = [{"type": "adjustment", "amount": 5_000, "account": "6710", "reference": "txn_1"}]
    params = {"payout": "po_1", "amount": 5_000, "currency": "usd", "lines": lines}
    request = ActionRequest(
        "act_1", "netsuite.deposit.create", "po_1", {**params, "date": arrived}, "k-dep", 1
    )
    return dict(handler(request))


def test_a_deposit_for_a_closed_month_is_posted_on_the_first_open_day(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter
) -> None:
    sim.books.close_period("2026-11")

    result = _deposit(adapter, "2026-11-30")

    deposit = adapter.deposit(str(result["deposit"]))
    assert deposit.date == date(2026, 12, 1)
    assert deposit.memo == (
        "Stripe payout po_1, arrived 2026-11-30; Nov 2026 is closed, recorded on 2026-12-01"
    )


def test_an_ar_lock_holds_back_payments_but_not_the_banks_deposit(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter
) -> None:
    """Lock A/R stops invoices, payments and credit memos; a deposit is a bank transaction."""
    sim.books.close_period("2026-11", "ar")

    result = _deposit(adapter, "2026-11-30")

    assert adapter.deposit(str(result["deposit"])).date == date(2026, 11, 30)


def test_with_no_open_period_after_it_nothing_is_posted_and_a_person_is_told(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    for year in range(2026, 2036):
        for month in range(11 if year == 2026 else 1, 13):
            sim.books.close_period(f"{year}-{month:02d}")

    with pytest.raises(ProviderError) as refused:
        _payment(adapter, acme)

    assert str(refused.value).startswith("NetSuite's period Nov 2026 is closed or locked and no")
    assert not refused.value.retryable
    assert sim.books.customer_payments() == []


def test_a_payment_into_a_closed_month_is_found_again_not_recorded_twice(
    sim: NetSuiteSimulator, clock: SimulatedClock, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    """The retry of a moved payment finds the first, whatever day it was dated."""
    sim.books.close_period("2026-11")
    first = _payment(adapter, acme)
    payment, replayed = adapter.record_payment(
        acme.invoice, stripe_charge_id="ch_acme_1", on=PAID, idempotency_key="k-pay"
    )
    assert replayed and payment.date.isoformat() == first[0]
    assert len(sim.books.customer_payments()) == 1


def test_after_an_ar_lock_a_deposit_is_dated_with_the_payment_it_takes(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme
) -> None:
    """The controller locked A/R for November before closing it. The morning records the
    payment its connector missed on the 1st (November takes no payment now), so the payout's
    deposit, which arrived on the 30th, is dated the 1st too: Undeposited Funds never gives out
    money before it came in."""
    sim.books.close_period("2026-11", "ar")
    payment, _ = adapter.record_payment(
        acme.invoice, stripe_charge_id="ch_acme_1", on=date(2026, 11, 30), idempotency_key="k"
    )
    request = DepositRequest(
        payout="po_1",
        amount=1_250_000,
        currency="USD",
        lines=(DepositLineRequest("payment", 1_250_000, reference="ch_acme_1"),),
        date=date(2026, 11, 30),
    )

    deposit, _ = adapter.create_deposit(request, idempotency_key="k-dep")

    assert payment.date == deposit.date == date(2026, 12, 1)
    assert deposit.memo == (
        "Stripe payout po_1, arrived 2026-11-30; its payments are dated then, recorded on "
        "2026-12-01"
    )
    assert adapter.undeposited_funds_balance("USD", as_of=date(2026, 11, 30)).amount == 0
