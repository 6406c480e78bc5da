"""SuiteQL: paged with a stable order, executed for real, read-only, Oracle's LIKE."""

from __future__ import annotations

from decimal import Decimal

import pytest

from revline.providers.base import ProviderError
from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.sim import NetSuiteSimulator


def test_paging_over_more_than_a_thousand_rows_in_a_stable_order(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter
) -> None:
    for n in range(2345):
        sim.books.add_customer(f"Customer {n:04d}", f"ap{n}@example.com")
    rows = adapter.suiteql("SELECT c.id, c.entityid FROM customer c ORDER BY c.id")
    ids = [int(row["id"]) for row in rows]
    assert len(ids) == 2345 and ids == sorted(set(ids))
    assert rows[1234]["entityid"] == "Customer 1234"
    pages = [r.query for r in sim.requests if r.path.endswith("/query/v1/suiteql")]
    assert pages == ["limit=1000&offset=0", "limit=1000&offset=1000", "limit=1000&offset=2000"]


def test_a_paged_query_must_say_its_order(adapter: NetSuiteAdapter) -> None:
    with pytest.raises(ValueError, match="ORDER BY"):
        adapter.suiteql("SELECT c.id FROM customer c")


def test_values_come_back_as_netsuite_sends_them(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter
) -> None:
    customer = sim.books.add_customer("Quinn & Co", None)
    sim.books.add_invoice(customer, 1_000_010, number="INV-1", memo=None)
    [row] = adapter.suiteql(
        "SELECT t.tranid, t.foreigntotal, t.memo, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS day"
        " FROM transaction t WHERE t.type = 'CustInvc' ORDER BY t.id"
    )
    # Lowercase names, strings, null columns left out.
    assert row == {"tranid": "INV-1", "foreigntotal": "10000.1", "day": "2026-12-01"}


def test_sums_are_exact_decimals(sim: NetSuiteSimulator, adapter: NetSuiteAdapter) -> None:
    customer = sim.books.add_customer("Dimes Ltd", None)
    for _ in range(30):
        sim.books.add_invoice(customer, 10)  # $0.10, which binary floating point cannot hold
    [row] = adapter.suiteql(
        "SELECT SUM(t.foreigntotal) AS total FROM transaction t"
        f" WHERE t.entity = {customer} GROUP BY t.entity ORDER BY t.entity"
    )
    assert Decimal(row["total"]) == Decimal("3.00")  # not 3.0000000000000004


def test_like_is_case_sensitive_as_in_oracle(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter
) -> None:
    sim.books.add_customer("Acme", "Billing@Acme.example")
    upper = adapter.suiteql(
        "SELECT c.id FROM customer c WHERE c.email LIKE '%billing%' ORDER BY c.id"
    )
    lowered = adapter.suiteql(
        "SELECT c.id FROM customer c WHERE LOWER(c.email) LIKE '%billing%' ORDER BY c.id"
    )
    assert (len(upper), len(lowered)) == (0, 1)


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM customer WHERE id IN (SELECT id FROM customer ORDER BY id)",
        "SELECT c.id FROM customer c ORDER BY c.id; DELETE FROM customer",
        "SELECT BUILTIN.DF(c.salesrep) FROM customer c ORDER BY c.id",
        "SELECT c.id FROM customer c WHERE ROWNUM < 5 ORDER BY c.id",
        "SELECT nonsense FROM nowhere ORDER BY 1",
    ],
)
def test_what_the_simulator_will_not_run_is_a_400(adapter: NetSuiteAdapter, query: str) -> None:
    with pytest.raises(ProviderError) as caught:
        adapter.suiteql(query)
    assert (caught.value.status, caught.value.provider_code) == (400, "INVALID_PARAMETER")
    assert not caught.value.retryable


def test_quotes_in_values_are_literals_not_sql(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter
) -> None:
    sim.books.add_customer("O'Brien Fabrication", "accounts@obrien.example")
    sim.books.add_customer("Other", "x@example.com")
    assert adapter.customers_by_email("x' OR '1'='1") == []
    [found] = adapter.search_customers(name_contains="o'brien")
    assert found.name == "O'Brien Fabrication"
    assert adapter.search_customers(email_contains="%") == []  # % is a character, not a wildcard
