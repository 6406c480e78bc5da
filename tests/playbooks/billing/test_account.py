"""What the failed-payment case reads of a customer, from the Stripe and NetSuite simulators
over HTTP: whether a dispute is still open, and why a tier cannot be told."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest

from revline.clock import SimulatedClock
from revline.config import Company
from revline.core.playbook import Enrichment
from revline.playbooks.billing.failed_payment import gather_account
from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.sim import NetSuiteSimulator
from revline.providers.stripe.client import StripeAdapter
from revline.providers.stripe.sim import CardOutcome, StripeSimulator
from tests.providers.netsuite.conftest import FAST_RETRY


@dataclass
class Providers:
    stripe: StripeSimulator
    netsuite: NetSuiteSimulator
    enrichment: Enrichment


@pytest.fixture
def providers(clock: SimulatedClock) -> Iterator[Providers]:
    with (
        StripeSimulator(clock) as stripe_sim,
        NetSuiteSimulator(clock, seed=11) as netsuite_sim,
        NetSuiteAdapter(netsuite_sim.settings(), clock=clock, retry=FAST_RETRY) as netsuite,
    ):
        stripe = StripeAdapter(
            stripe_sim.api_key, api_base=stripe_sim.url, max_network_retries=0, clock=clock
        )
        enrichment = Enrichment(
            clock, Company().calendar(), Company(), {"stripe": stripe, "netsuite": netsuite}
        )
        yield Providers(stripe_sim, netsuite_sim, enrichment)


def _acme_fails_an_invoice(providers: Providers) -> tuple[str, str]:
    """Acme paid an invoice, then a charge failed: its NetSuite customer, and the charge paid."""
    state = providers.stripe.state
    acme = state.create_customer("ap@acme.example", "Acme Corp")["id"]
    customer = providers.netsuite.books.add_customer(
        "Acme Corp", "ap@acme.example", stripe_customer_id=acme
    )
    state.create_invoice(acme, 1_250_000, invoice_id="in_paid")
    paid = state.attempt_payment("in_paid").charge["id"]
    state.set_card(acme, CardOutcome.fails("card_declined"))
    state.create_invoice(acme, 1_250_000, invoice_id="in_failed")
    state.attempt_payment("in_failed")
    return customer, paid


def test_only_a_dispute_still_open_stops_dunning(providers: Providers) -> None:
    """Stripe keeps a charge ``disputed`` for good: a dispute the company won long ago is no
    reason to hand every later failed payment to a person."""
    _, paid = _acme_fails_an_invoice(providers)
    assert not gather_account("in_failed", providers.enrichment).dispute_open
    dispute = providers.stripe.state.dispute(paid, reason="fraudulent")
    assert gather_account("in_failed", providers.enrichment).dispute_open
    providers.stripe.state.close_dispute(dispute["id"], won=True)
    assert not gather_account("in_failed", providers.enrichment).dispute_open


def test_a_customer_invoiced_in_two_currencies_has_no_mrr_to_read(providers: Providers) -> None:
    customer, _ = _acme_fails_an_invoice(providers)
    books = providers.netsuite.books
    books.add_invoice(customer, 1_000_000, on=date(2026, 10, 5))
    books.add_invoice(customer, 200_000, on=date(2026, 10, 6), currency="EUR")
    account = gather_account("in_failed", providers.enrichment)
    assert account.mrr_unknown is not None
    assert "was invoiced in several currencies (EUR, USD)" in account.mrr_unknown


def test_a_one_off_invoice_failing_is_not_in_dunning(providers: Providers) -> None:
    """A one-off invoice never opens a dunning case: counted as in dunning, it would keep the
    subscription's recognition held with nothing ever to resume it. Another subscription's
    invoice failing does count."""
    _acme_fails_an_invoice(providers)
    state = providers.stripe.state
    acme = state.get("invoice", "in_failed")["customer"]
    state.create_invoice(acme, 90_000, invoice_id="in_oneoff", billing_reason="manual")
    state.attempt_payment("in_oneoff")
    assert gather_account("in_failed", providers.enrichment).other_failed_invoices == ()
    state.create_invoice(acme, 40_000, invoice_id="in_other_sub", subscription="sub_other")
    state.attempt_payment("in_other_sub")
    assert gather_account("in_failed", providers.enrichment).other_failed_invoices == (
        "in_other_sub",
    )


def test_only_a_dunning_hold_is_one_to_hand_over(providers: Providers) -> None:
    """Paid, the invoice reads whether the customer's recognition is on hold for dunning (the
    last invoice out of dunning lifts it): a hold a person placed for another reason is not
    dunning's to lift, nor the pipeline exclusion that goes with it."""
    customer, _ = _acme_fails_an_invoice(providers)
    state, books = providers.stripe.state, providers.netsuite.books
    books.add_invoice(customer, 1_250_000)  # a revenue plan to hold
    books.hold_revenue(customer, "contract_review")
    state.pay_out_of_band("in_failed")
    assert not gather_account("in_failed", providers.enrichment).recognition_held
    books.add_invoice(customer, 300_000)  # a plan of its own, held for dunning
    books.hold_revenue(customer, "dunning")
    assert gather_account("in_failed", providers.enrichment).recognition_held
