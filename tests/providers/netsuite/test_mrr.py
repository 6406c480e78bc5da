"""Trailing three-month MRR over real calendar dates."""

from __future__ import annotations

from datetime import date

import pytest

from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.sim import NetSuiteSimulator


@pytest.fixture
def customer(sim: NetSuiteSimulator) -> str:
    return sim.books.add_customer("Halberd Cybersecurity", "ap@halberd.example")


def test_the_three_full_months_before_the_as_of_month(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, customer: str
) -> None:
    books = sim.books
    books.add_invoice(customer, 999_999, on=date(2026, 8, 31))  # before the window
    books.add_invoice(customer, 600_000, on=date(2026, 9, 1))  # first day in
    books.add_invoice(customer, 500_000, on=date(2026, 10, 15))
    books.add_invoice(customer, 400_001, on=date(2026, 11, 30))  # last day in
    voided = books.add_invoice(customer, 777_777, on=date(2026, 11, 2))
    books.void_invoice(voided)  # voided invoices are not revenue
    books.add_invoice(customer, 888_888, on=date(2026, 12, 1))  # the as-of month itself
    mrr = adapter.trailing_mrr(customer, as_of=date(2026, 12, 9))
    assert (mrr.window_start, mrr.window_end) == (date(2026, 9, 1), date(2026, 12, 1))
    assert (mrr.total, mrr.invoices) == (1_500_001, 3)
    assert mrr.amount == 500_000  # 500000.33… rounds to the cent
    assert mrr.money.format() == "$5,000.00"


@pytest.mark.parametrize(
    ("as_of", "start", "end"),
    [
        (date(2027, 1, 4), date(2026, 10, 1), date(2027, 1, 1)),
        (date(2027, 2, 28), date(2026, 11, 1), date(2027, 2, 1)),
        (date(2027, 3, 1), date(2026, 12, 1), date(2027, 3, 1)),
    ],
)
def test_windows_across_the_year_end(
    adapter: NetSuiteAdapter, customer: str, as_of: date, start: date, end: date
) -> None:
    mrr = adapter.trailing_mrr(customer, as_of=as_of)
    assert (mrr.window_start, mrr.window_end, mrr.total, mrr.amount) == (start, end, 0, 0)
    assert mrr.currency == "USD"


@pytest.mark.parametrize(("total", "average"), [(100, 33), (200, 67), (3, 1), (1_250_002, 416_667)])
def test_the_average_is_rounded_to_a_whole_minor_unit(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, customer: str, total: int, average: int
) -> None:
    sim.books.add_invoice(customer, total, on=date(2026, 10, 5))
    assert adapter.trailing_mrr(customer, as_of=date(2026, 12, 1)).amount == average


def test_the_seeded_history_gives_the_scenarios_mrr(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, customer: str
) -> None:
    sim.books.add_invoice_history(customer, 1_250_000, as_of=date(2026, 12, 1))
    assert adapter.trailing_mrr(customer, as_of=date(2026, 12, 2)).amount == 1_250_000
