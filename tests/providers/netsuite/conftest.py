"""A simulated NetSuite account on loopback and an adapter pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest

from revline.clock import SimulatedClock
from revline.providers.base import Handler, Handlers
from revline.providers.netsuite import NetSuiteAdapter, register
from revline.providers.netsuite.sim import NetSuiteSimulator
from revline.providers.netsuite.transport import RetryPolicy

# Retries as the real adapter does them, only with millisecond pauses.
FAST_RETRY = RetryPolicy(attempts=8, base_seconds=0.01, cap_seconds=0.1)


def handler_of(adapter: NetSuiteAdapter, kind: str) -> Handler:
    """The action handler the adapter registers for ``kind`` (``netsuite.deposit.create``)."""
    handlers = Handlers()
    register(handlers, adapter)
    handler = handlers.get(kind)
    assert handler is not None
    return handler


@pytest.fixture
def sim(clock: SimulatedClock) -> Iterator[NetSuiteSimulator]:
    with NetSuiteSimulator(clock, seed=11) as simulator:
        yield simulator


@pytest.fixture
def adapter(sim: NetSuiteSimulator, clock: SimulatedClock) -> Iterator[NetSuiteAdapter]:
    with NetSuiteAdapter(sim.settings(), clock=clock, retry=FAST_RETRY) as netsuite:
        yield netsuite


@dataclass(frozen=True)
class Acme:
    """A high-value customer in dunning, as the seeds describe one."""

    customer: str
    invoice: str
    history: list[str]


@pytest.fixture
def acme(sim: NetSuiteSimulator) -> Acme:
    books = sim.books
    customer = books.add_customer(
        "Acme Corp",
        "billing@acme.example",
        stripe_customer_id="cus_acme",
        relationship_owner=("Felix Nordstrom", "felix@ourco.example"),
        ap_contact=("Dana Reyes", "dana.reyes@acme.example"),
    )
    books.add_contact(customer, "Sam", "Ortiz", "sam@acme.example", role="Primary Contact")
    history = books.add_invoice_history(customer, 1_250_000, as_of=date(2026, 12, 1))
    invoice = books.add_invoice(
        customer,
        1_250_000,
        number="INV-2026-1201",
        stripe_invoice_id="in_acme_1",
        stripe_charge_id="ch_acme_1",
        stripe_subscription_id="sub_acme",
    )
    return Acme(customer, invoice, history)
