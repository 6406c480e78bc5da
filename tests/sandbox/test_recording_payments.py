"""Payments NetSuite lacks, recorded rather than parked: played through the sandbox."""

from __future__ import annotations

from pathlib import Path

from revline.sandbox.runner import Run
from revline.sandbox.scenario import load
from revline.sandbox.world import World

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"


def test_a_missing_customer_payment_is_recorded_from_its_invoice_and_the_payout_deposited(
    tmp_path: Path,
) -> None:
    with World(load(CASH / "payment_missing_in_netsuite.json"), tmp_path) as world:
        report = Run(world).play()
        undeposited = world.netsuite.books.undeposited_funds_balance()

    # The connector missed Acme's payment: NetSuite holds the invoice but no customer payment.
    (record,) = [a for a in report["actions"] if a["kind"] == "netsuite.customer_payment.create"]
    assert record["status"] == "applied"
    assert record["params"]["amount"] == 1_250_000
    # It is recorded from the invoice, not flagged as an orphan...
    assert [c for c in report["cases"] if c["kind"] == "orphan_payment"] == []
    # ...and the payout is deposited the same morning, both payments at their gross amounts.
    (deposit,) = [a for a in report["actions"] if a["kind"] == "netsuite.deposit.create"]
    assert deposit["status"] == "applied" and deposit["at"] == record["at"]
    payments = [line["amount"] for line in deposit["params"]["lines"] if line["type"] == "payment"]
    assert sorted(payments) == [180_000, 1_250_000]
    assert undeposited == 0
    (day,) = [c for c in report["cases"] if c["subject"] == "payouts:2026-12-04"]
    assert day["state"] == "reconciled"


def test_the_ar_specialist_applies_a_proposed_match_and_the_payout_follows(
    tmp_path: Path,
) -> None:
    with World(load(CASH / "orphan_match_applied.json"), tmp_path) as world:
        report = Run(world).play()
        (invoice,) = world.netsuite.books.invoices()

    # A mistyped email, and Acme has one open invoice of the payment's amount: the match is
    # proposed as an action the AR specialist approves ("approve": "all" plays her part).
    (apply,) = [a for a in report["actions"] if a["kind"] == "netsuite.customer_payment.create"]
    assert apply["status"] == "applied"
    assert apply["params"]["amount"] == 42_000
    (orphan,) = [c for c in report["cases"] if c["kind"] == "orphan_payment"]
    assert (orphan["state"], orphan["queue"]) == ("resolved", None)
    assert invoice.number == "INV-2026-1350" and invoice.amount_remaining == 0
    # The payout waited for the orphan; the next working morning's run deposits it.
    (deposit,) = [a for a in report["actions"] if a["kind"] == "netsuite.deposit.create"]
    assert (deposit["status"], deposit["at"]) == ("applied", "2026-12-07T08:00:00-05:00")
