"""``netsuite.customer_payment.create`` with a date: the payment a payout's deposit moves out of
Undeposited Funds is dated as the deposit is, not the day it is recorded."""

from __future__ import annotations

from datetime import date

import pytest

from revline.providers.base import ActionRequest, Handlers, ProviderError
from revline.providers.netsuite import NetSuiteAdapter, register
from revline.providers.netsuite.sim import NetSuiteSimulator
from tests.providers.netsuite.conftest import Acme

RECORD = "netsuite.customer_payment.create"


def _record(handlers: Handlers, params: dict[str, object]) -> dict[str, object]:
    handler = handlers.get(RECORD)
    assert handler is not None
    request = ActionRequest("act_1", RECORD, "ch_2", params, f"{RECORD}:ch_2", 1)
    return dict(handler(request))


@pytest.mark.parametrize(
    ("dated", "recorded_on"),
    [
        ({"date": "2026-11-30"}, date(2026, 11, 30)),  # the payout's arrival day
        ({}, date(2026, 12, 1)),  # no date: the day NetSuite records it
    ],
)
def test_a_recorded_payment_is_dated_as_asked_or_today(
    adapter: NetSuiteAdapter,
    sim: NetSuiteSimulator,
    acme: Acme,
    handlers: Handlers,
    dated: dict[str, object],
    recorded_on: date,
) -> None:
    register(handlers, adapter)
    invoice = sim.books.add_invoice(acme.customer, 42_000, number="INV-2026-1350")
    result = _record(handlers, {"invoice": invoice, "charge": "ch_2", "amount": 42_000, **dated})
    assert result["date"] == recorded_on.isoformat()
    (payment,) = adapter.customer_payments_by_charge("ch_2")
    assert (payment.date, payment.amount, payment.undeposited) == (recorded_on, 42_000, True)


def test_a_date_that_is_not_an_iso_date_is_refused(
    adapter: NetSuiteAdapter, sim: NetSuiteSimulator, acme: Acme, handlers: Handlers
) -> None:
    register(handlers, adapter)
    invoice = sim.books.add_invoice(acme.customer, 42_000, number="INV-2026-1350")
    with pytest.raises(ProviderError) as refused:
        _record(handlers, {"invoice": invoice, "charge": "ch_2", "date": "31/12/2026"})
    assert refused.value.retryable is False
    assert "params.date" in str(refused.value)
    assert adapter.customer_payments_by_charge("ch_2") == []
