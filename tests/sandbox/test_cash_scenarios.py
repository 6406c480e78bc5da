"""The cash procedures played through the sandbox: simulators, webhooks, worker, adapters."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from revline.db.models import Case
from revline.playbooks.cash.payout_day import payouts_of
from revline.sandbox.runner import Run, report
from revline.sandbox.scenario import load
from revline.sandbox.world import World

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"


def _play(name: str, workdir: Path) -> dict[str, Any]:
    with World(load(CASH / f"{name}.json"), workdir) as world:
        return Run(world).play()


def _actions(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in report["actions"] if a["kind"] == kind]


def _cases(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in report["cases"] if c["kind"] == kind]


def test_a_clean_payout_is_one_deposit_with_fees_on_their_own_line(tmp_path: Path) -> None:
    report = _play("clean_payout", tmp_path)
    (deposit,) = _actions(report, "netsuite.deposit.create")
    assert deposit["status"] == "applied"
    assert deposit["at"] == "2026-12-04T08:00:00-05:00"  # the morning after it arrived
    params = deposit["params"]
    # 2.9 % + 30¢ on 1,800.00 and 12,500.00.
    fees = (5_220 + 30) + (36_250 + 30)
    assert params["amount"] == 180_000 + 1_250_000 - fees
    assert [(line["type"], line["amount"]) for line in params["lines"]] == [
        ("payment", 180_000),
        ("payment", 1_250_000),
        ("fee", -fees),
    ]
    assert params["lines"][-1]["account"] == "6700-8"
    assert deposit["result"]["total"] == params["amount"]
    assert report["ledger"]["verified"] is True


def test_an_orphan_holds_the_payout_and_opens_a_case_the_same_morning(tmp_path: Path) -> None:
    report = _play("payout_with_orphan", tmp_path)
    assert _actions(report, "netsuite.deposit.create") == []
    (flag,) = _actions(report, "revline.orphan.flag")
    (orphan,) = _cases(report, "orphan_payment")
    assert orphan["subject"] == flag["subject"]
    assert orphan["opened_at"] == "2026-12-04T08:00:00-05:00"
    held = [c for c in _cases(report, "payout_reconciliation") if c["state"] == "exceptions"]
    assert [c["queue"] for c in held] == ["ar_specialist"]


def test_a_mistyped_email_is_found_and_proposed(tmp_path: Path) -> None:
    report = _play("orphan_mistyped_email", tmp_path)
    (orphan,) = _cases(report, "orphan_payment")
    assert (orphan["state"], orphan["queue"]) == ("match_proposed", "ar_specialist")
    assert report["emails"] == []


def test_a_checkout_link_payment_is_explained(tmp_path: Path) -> None:
    report = _play("orphan_checkout_link", tmp_path)
    (orphan,) = _cases(report, "orphan_payment")
    assert orphan["state"] == "match_proposed"
    assert report["emails"] == []


def test_no_cause_means_outreach_after_ten_minutes(tmp_path: Path) -> None:
    report = _play("orphan_no_cause", tmp_path)
    (orphan,) = _cases(report, "orphan_payment")
    assert (orphan["state"], orphan["queue"]) == ("awaiting_cardholder", "ar_specialist")
    (email,) = report["emails"]
    assert email["at"] == "2026-12-04T08:10:00-05:00"
    assert email["to"] == ["someone@unknown.example"]
    assert "$420.00" in email["subject"]


def test_the_same_day_run_twice_posts_one_deposit(tmp_path: Path) -> None:
    with World(load(CASH / "clean_payout.json"), tmp_path) as world:
        Run(world).play()
        with world.runtime.db.read() as session:
            case_id = session.execute(
                select(Case.id).where(Case.subject == "payouts:2026-12-04")
            ).scalar_one()
        world.worker.router.decide_now(case_id, "user:omar", {"reason": "rerun"})
        world.worker.drain()
        assert len(world.netsuite.books.deposits()) == 1
        rerun = report(world)
    assert len(_actions(rerun, "netsuite.deposit.create")) == 1


def test_a_refund_is_its_own_deposit_line_and_the_payout_waits_for_its_orphan(
    tmp_path: Path,
) -> None:
    with World(load(CASH / "payout_with_refund_and_orphan.json"), tmp_path) as world:
        first = Run(world).play()
        # Bluefin's payment went out on the first payout, deposited on 2 December; the refund of
        # its invoice, made in the dashboard on the 2nd, reaches the second payout.
        (earlier,) = _actions(first, "netsuite.deposit.create")
        assert (earlier["status"], earlier["at"]) == ("applied", "2026-12-02T08:00:00-05:00")
        (refund,) = world.stripe.state.newest_first("refund")
        assert (refund["amount"], refund["reason"]) == (180_000, "requested_by_customer")

        # 4 December: the second payout has an orphan, so nothing is posted for it; the orphan
        # is flagged and its investigation opens the same morning, and the day is an exception.
        (flag,) = _actions(first, "revline.orphan.flag")
        (orphan,) = _cases(first, "orphan_payment")
        assert orphan["opened_at"] == "2026-12-04T08:00:00-05:00"
        with world.runtime.db.read() as session:
            day = payouts_of(session, date(2026, 12, 4))
        assert (day.state, day.queue) == ("exceptions", "ar_specialist")
        deposited, waiting = day.payouts
        assert (deposited.payout, deposited.status) == (earlier["subject"], "already_deposited")
        assert (waiting.status, waiting.deposit, waiting.arrival) == (
            "orphans_pending",
            None,
            date(2026, 12, 3),
        )
        (unmatched,) = [t for t in waiting.transactions if t.status == "unmatched"]
        assert waiting.unresolved == [unmatched.transaction]
        assert unmatched.charge == flag["subject"]
        assert unmatched.orphan_case is not None
        assert unmatched.orphan_case.case_id == orphan["id"]

        # The AR specialist learns the payment was for a new Acme invoice: raises it in NetSuite,
        # records the payment with its Stripe charge id, and reruns the morning.
        books = world.netsuite.books
        invoice = books.add_invoice(
            world.customers["acme"]["netsuite"], 42_000, number="INV-2026-1230"
        )
        books.record_customer_payment(invoice, stripe_charge_id=flag["subject"])
        world.worker.router.decide_now(day.case_id, "user:priya", {"reason": "orphan recorded"})
        world.worker.drain()
        after = report(world)
        with world.runtime.db.read() as session:
            rerun = payouts_of(session, date(2026, 12, 4))

    (deposit,) = [
        a for a in _actions(after, "netsuite.deposit.create") if a["subject"] == waiting.payout
    ]
    assert deposit["status"] == "applied"
    params = deposit["params"]
    # 2.9 % + 30¢ on Acme's 12,500.00 and the orphan's 420.00; the refund carries no fee.
    fees = (36_250 + 30) + (1_218 + 30)
    assert [(line["type"], line["amount"], line.get("account")) for line in params["lines"]] == [
        ("payment", 1_250_000, None),
        ("refund", -180_000, "4090"),
        ("payment", 42_000, None),
        ("fee", -fees, "6700-8"),
    ]
    assert params["lines"][1]["reference"] == refund["id"]
    assert params["amount"] == waiting.amount == 1_250_000 - 180_000 + 42_000 - fees
    assert deposit["result"]["total"] == params["amount"]
    assert (rerun.state, rerun.payouts[1].status) == ("reconciled", "deposit_proposed")
    assert rerun.payouts[1].deposit is not None
    assert rerun.payouts[1].deposit.status == "applied"
    # Recording the payment does not close the investigation: the AR specialist does.
    assert [c["state"] for c in _cases(after, "orphan_payment")] == ["awaiting_cardholder"]
    assert after["ledger"]["verified"] is True


@pytest.mark.parametrize("name", sorted(p.stem for p in CASH.glob("*.json")))
def test_every_cash_example_runs_and_verifies(name: str, tmp_path: Path) -> None:
    assert _play(name, tmp_path)["ledger"]["verified"] is True
