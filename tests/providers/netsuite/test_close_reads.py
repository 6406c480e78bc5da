"""The NetSuite reads the month-end tie-out adds: payments by date, holds across customers,
and the simulator's hand-keyed journal entries in the Undeposited Funds balance."""

from __future__ import annotations

from datetime import date

from revline.playbooks.cash.tieout import held_for_dunning
from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.sim import NetSuiteSimulator
from tests.providers.netsuite.conftest import Acme


def test_customer_payments_dated_in_a_period(
    adapter: NetSuiteAdapter, sim: NetSuiteSimulator, acme: Acme
) -> None:
    books = sim.books
    books.record_customer_payment(
        acme.invoice, amount=1_000_000, stripe_charge_id="ch_dec", on=date(2026, 12, 31)
    )
    books.record_customer_payment(
        acme.invoice, amount=250_000, stripe_charge_id="ch_jan", on=date(2027, 1, 1)
    )
    december = adapter.customer_payments_dated(date(2026, 12, 1), date(2026, 12, 31))
    assert [(p.stripe_charge_id, p.amount, p.date) for p in december] == [
        ("ch_dec", 1_000_000, date(2026, 12, 31))
    ]
    assert len(adapter.customer_payments_dated(date(2026, 12, 1), date(2027, 1, 31))) == 2


def test_held_revenue_plans_across_customers(
    adapter: NetSuiteAdapter, sim: NetSuiteSimulator, acme: Acme
) -> None:
    assert adapter.held_revenue_plans() == []
    sim.books.hold_revenue(acme.customer, "dunning")
    (plan,) = adapter.held_revenue_plans()
    assert (plan.customer_id, plan.on_hold, plan.hold_reason) == (acme.customer, True, "dunning")


def test_a_customer_held_in_two_currencies_is_listed_once_per_currency(
    adapter: NetSuiteAdapter, sim: NetSuiteSimulator, acme: Acme
) -> None:
    """Acme's euro contract is held with its dollar ones: the amounts are never added."""
    sim.books.add_invoice(acme.customer, 400_000, number="INV-2026-1210", currency="EUR")
    sim.books.hold_revenue(acme.customer, "dunning")
    plans = adapter.held_revenue_plans()
    dollars = sum(p.amount for p in plans if p.currency == "USD")
    held = held_for_dunning(adapter)
    assert [(h.customer, h.currency, h.amount) for h in held] == [
        ("Acme Corp", "EUR", 400_000),
        ("Acme Corp", "USD", dollars),
    ]
    assert dollars > 0


def test_a_hand_keyed_entry_and_its_correction_move_undeposited_funds_as_of_a_date(
    adapter: NetSuiteAdapter, sim: NetSuiteSimulator
) -> None:
    books = sim.books
    books.add_journal_entry([("1190", 1_240), ("4000", -1_240)], on=date(2026, 12, 30))
    books.add_journal_entry([("1190", -1_240), ("4000", 1_240)], on=date(2027, 1, 6))
    assert adapter.undeposited_funds_balance("USD", as_of=date(2026, 12, 31)).amount == 1_240
    assert adapter.undeposited_funds_balance("USD", as_of=date(2027, 1, 6)).amount == 0


def test_undeposited_funds_of_the_company_currency_leaves_other_currencies_out(
    adapter: NetSuiteAdapter, sim: NetSuiteSimulator, acme: Acme
) -> None:
    """A dollar payment and a euro one wait in Undeposited Funds: the dollar balance is the
    dollar payment's; the euro one is named apart (NetSuite books it converted at its rates)."""
    books = sim.books
    books.record_customer_payment(
        acme.invoice, amount=50_000, stripe_charge_id="ch_usd", on=date(2026, 12, 30)
    )
    euros = books.add_invoice(acme.customer, 10_000, number="INV-2026-1211", currency="EUR")
    books.record_customer_payment(
        euros, amount=10_000, stripe_charge_id="ch_eur", on=date(2026, 12, 30)
    )
    december = date(2026, 12, 31)
    assert adapter.undeposited_funds_balance("USD", as_of=december).amount == 50_000
    held = adapter.undeposited_funds_by_currency("USD", as_of=december)
    assert sorted(held) == ["EUR", "USD"]
    assert held["EUR"].currency == "USD"  # as NetSuite books it: in its base currency
