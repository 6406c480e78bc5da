"""The Stripe read the month-end tie-out adds: balance transactions by when they were created."""

from __future__ import annotations

from datetime import timedelta

from revline.clock import SimulatedClock
from revline.providers.stripe.client import StripeAdapter
from revline.providers.stripe.sim.state import StripeState


def test_balance_transactions_in_a_window_paid_out_or_not(
    adapter: StripeAdapter, stripe_state: StripeState, clock: SimulatedClock
) -> None:
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    stripe_state.create_invoice(acme["id"], 100_000, invoice_id="in_acme_1")
    stripe_state.attempt_payment("in_acme_1")
    payout = stripe_state.create_payout()
    assert payout is not None
    first_day_ends = clock.now()
    clock.advance(timedelta(days=1))
    stripe_state.create_invoice(acme["id"], 25_000, invoice_id="in_acme_2")
    stripe_state.attempt_payment("in_acme_2")

    everything = adapter.list_balance_transactions(
        created_from=first_day_ends - timedelta(days=1), created_until=clock.now()
    )
    assert sorted(t.type for t in everything) == ["charge", "charge", "payout"]
    first_day = adapter.list_balance_transactions(
        created_from=first_day_ends - timedelta(days=1), created_until=first_day_ends
    )
    assert sorted((t.type, t.amount) for t in first_day) == [
        ("charge", 100_000),
        ("payout", -payout["amount"]),
    ]
