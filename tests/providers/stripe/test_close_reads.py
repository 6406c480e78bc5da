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


def test_the_balance_as_it_stood_at_an_instant_is_stripes_balance_less_what_moved_since(
    adapter: StripeAdapter, stripe_state: StripeState, clock: SimulatedClock
) -> None:
    """Acme pays $1,000.00 and it is paid out; Bluefin pays $250.00. At that instant Stripe
    holds Bluefin's payment less its fee. The next day Acme pays $500.00 and a euro customer
    pays: asked again, the balance at the earlier instant is what it was, in dollars only."""
    acme = stripe_state.create_customer("billing@acme.example", "Acme Corp")
    bluefin = stripe_state.create_customer("ap@bluefin.example", "Bluefin Labs")
    stripe_state.create_invoice(acme["id"], 100_000, invoice_id="in_acme_1")
    stripe_state.attempt_payment("in_acme_1")
    assert stripe_state.create_payout() is not None
    stripe_state.create_invoice(bluefin["id"], 25_000, invoice_id="in_bluefin_1")
    bluefin_paid = stripe_state.attempt_payment("in_bluefin_1")
    clock.advance(timedelta(seconds=1))
    then = clock.now()
    bluefin_net = 25_000 - 755  # 2.9 % + 30¢
    assert bluefin_paid.charge["amount"] == 25_000
    assert adapter.balance_at(then, "usd") == bluefin_net

    clock.advance(timedelta(days=1))
    stripe_state.create_invoice(acme["id"], 50_000, invoice_id="in_acme_2")
    stripe_state.attempt_payment("in_acme_2")
    berlin = stripe_state.create_customer("ap@berlin.example", "Berlin GmbH")
    stripe_state.create_invoice(berlin["id"], 40_000, invoice_id="in_berlin_1", currency="eur")
    stripe_state.attempt_payment("in_berlin_1")

    assert adapter.balance_at(then, "usd") == bluefin_net
    assert adapter.balance_at(clock.now() + timedelta(seconds=1), "usd") == (
        bluefin_net + 50_000 - 1_480
    )
    assert adapter.balance_at(then, "eur") == 0

    # A movement of another balance (Issuing) is neither in the payments balance nor taken
    # off it: a charge's movement made one, as the simulator has no Issuing of its own.
    stripe_state.create_invoice(acme["id"], 70_000, invoice_id="in_acme_3")
    stripe_state.attempt_payment("in_acme_3")
    stripe_state.newest_first("balance_transaction")[0]["balance_type"] = "issuing"
    (usd,) = [f for f in stripe_state.balance()["available"] if f["currency"] == "usd"]
    assert usd["amount"] == bluefin_net + 50_000 - 1_480
    assert adapter.balance_at(then, "usd") == bluefin_net
