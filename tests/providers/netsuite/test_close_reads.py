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
