"""A duplicate's refund waits for the manager's approval, and meanwhile someone refunds the
charge in the Stripe dashboard. A step done by hand is not done twice: Revline never refunds
the charge again, and the case goes on with the books and the apology."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from revline.core import actions as outbox
from revline.db.models import Action, Case, LedgerRow
from revline.sandbox.runner import Run
from revline.sandbox.scenario import load
from revline.sandbox.world import Later, World
from tests.support.netsuite import gl_balance

SCENARIO = (
    Path(__file__).resolve().parents[2] / "examples" / "cash" / "duplicate_invoice_refunded.json"
)
NEW_YORK = ZoneInfo("America/New_York")
REFUND = "stripe.refund.create"


def _world(tmp_path: Path) -> World:
    """Bluefin paid INV-2026-1302 twice over; found the morning of Friday 4 December. The
    $420.00 refund is above the approval amount here, so it waits for the manager."""
    scenario = load(SCENARIO)
    scenario = scenario.model_copy(update={"policy": {"refund_approval_threshold": 40_000}})
    return World(scenario, tmp_path)


def _meanwhile(world: World, hour: int, what: str, run: Callable[[], Any], minute: int = 0) -> None:
    """Something a person does on Friday 4 December while the scenario plays."""
    world.later.append(Later(datetime(2026, 12, 4, hour, minute, tzinfo=NEW_YORK), what, run))


def _the_refund(world: World) -> Action:
    with world.runtime.db.read() as session:
        return session.execute(select(Action).where(Action.kind == REFUND)).scalar_one()


def _refund_by_hand(world: World, amount: int | None = None) -> Callable[[], str]:
    """Someone refunds the duplicate's charge in the Stripe dashboard (all of it by default)."""

    def run() -> str:
        charge = str(_the_refund(world).params["charge"])
        world.stripe.state.create_refund(charge, amount=amount, reason="duplicate")
        return f"{charge} refunded by hand"

    return run


def _maya(world: World, approves: bool) -> Callable[[], str]:
    """The senior RevOps manager approves (or rejects) the refund waiting for her."""

    def run() -> str:
        runtime = world.runtime
        refund_id = _the_refund(world).id
        with runtime.db.write() as session:
            if approves:
                outbox.approve(
                    session,
                    runtime.ledger,
                    action_id=refund_id,
                    approver="user:maya",
                    approver_role="revops_manager",
                    policy=runtime.settings.policy,
                    now=runtime.clock.now(),
                )
            else:
                outbox.reject(
                    session,
                    runtime.ledger,
                    action_id=refund_id,
                    approver="user:maya",
                    approver_role="revops_manager",
                    policy=runtime.settings.policy,
                    now=runtime.clock.now(),
                    reason="refunded by hand already",
                )
        return "maya approves the refund" if approves else "maya rejects the refund"

    return run


def _look_again(world: World) -> Callable[[], str]:
    """The case decides again before anyone approves (here a person asks it to)."""

    def run() -> str:
        case_id = _the_refund(world).case_id
        assert case_id is not None
        world.worker.router.decide_now(case_id, "user:priya", {"reason": "look again"})
        return "the case looks again"

    return run


def _actions(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in report["actions"] if a["kind"] == kind]


def _case(report: dict[str, Any]) -> dict[str, Any]:
    cases: list[dict[str, Any]] = [c for c in report["cases"] if c["kind"] == "duplicate_invoice"]
    (case,) = cases
    return case


def _explanations(world: World, case_id: str) -> list[str]:
    with world.runtime.db.read() as session:
        rows = session.execute(
            select(LedgerRow)
            .where(LedgerRow.case_id == case_id, LedgerRow.kind == "decision")
            .order_by(LedgerRow.seq)
        ).scalars()
        return [str(row.detail["explanation"]) for row in rows]


def test_a_refund_approved_after_the_charge_was_refunded_by_hand_is_not_made_twice(
    tmp_path: Path,
) -> None:
    with _world(tmp_path) as world:
        _meanwhile(world, 9, "refund by hand", _refund_by_hand(world), minute=10)
        # Before the case's next look (it looks hourly while resolving), which would find the
        # refund by hand and cancel its own.
        _meanwhile(world, 9, "maya approves", _maya(world, approves=True), minute=30)
        report = Run(world).play()
        charge = world.stripe.state.get("charge", _the_refund(world).params["charge"])
        refunds = [
            r for r in world.stripe.state.newest_first("refund") if r["charge"] == charge["id"]
        ]
        explanations = _explanations(world, _case(report)["id"])
        refunds_gl = gl_balance(world, "4090")
        receivables = world.netsuite.books.balance("AcctRec")

    # The charge is refunded once, by hand; Stripe refused Revline's approved refund.
    assert (charge["amount_refunded"], len(refunds)) == (42_000, 1)
    (refund,) = _actions(report, REFUND)
    assert refund["status"] == "failed"
    assert "already been refunded" in refund["error"]
    # The case goes on: the customer refund in the books, then the apology, and it is resolved.
    (books_refund,) = _actions(report, "netsuite.customer_refund.create")
    assert books_refund["status"] == "applied"
    assert (books_refund["params"]["amount"], books_refund["params"]["account"]) == (42_000, "4090")
    assert "made by hand" in books_refund["params"]["memo"]
    (email,) = report["emails"]
    assert email["at"] == "2026-12-04T09:30:00-05:00"
    assert "invoice INV-2026-1301 stands" in email["body"]
    assert (_case(report)["state"], _case(report)["queue"]) == ("resolved", None)
    # The ledger says the refund was found made by hand.
    assert any("was refunded by hand in Stripe (in full, $420.00)" in e for e in explanations)
    # The refund by hand reached Monday's deposit on 4090, and the customer refund offsets it.
    assert (refunds_gl, receivables) == (0, 0)
    assert report["ledger"]["verified"] is True


def test_a_case_that_sees_the_charge_refunded_by_hand_cancels_its_waiting_refund(
    tmp_path: Path,
) -> None:
    with _world(tmp_path) as world:
        _meanwhile(world, 9, "refund by hand", _refund_by_hand(world))
        _meanwhile(world, 10, "the case looks again", _look_again(world))
        report = Run(world).play()
        charge = world.stripe.state.get("charge", _the_refund(world).params["charge"])

    # Nothing is left for the manager to approve: the refund is cancelled, with the reason.
    (refund,) = _actions(report, REFUND)
    assert refund["status"] == "cancelled"
    assert refund["error"] == (
        f"cancelled: charge {charge['id']} was refunded by hand in Stripe (in full, $420.00)"
    )
    assert charge["amount_refunded"] == 42_000
    (books_refund,) = _actions(report, "netsuite.customer_refund.create")
    assert books_refund["status"] == "applied"
    assert len(report["emails"]) == 1
    assert _case(report)["state"] == "resolved"
    assert report["ledger"]["verified"] is True


def test_a_refund_rejected_as_made_by_hand_lets_the_case_go_on(tmp_path: Path) -> None:
    with _world(tmp_path) as world:
        _meanwhile(world, 9, "refund by hand", _refund_by_hand(world), minute=10)
        _meanwhile(world, 9, "maya rejects", _maya(world, approves=False), minute=30)
        report = Run(world).play()

    (refund,) = _actions(report, REFUND)
    assert refund["status"] == "cancelled"
    assert _actions(report, "netsuite.customer_refund.create")[0]["status"] == "applied"
    assert len(report["emails"]) == 1
    assert _case(report)["state"] == "resolved"


def test_a_charge_refunded_by_hand_only_in_part_goes_to_the_ar_specialist(
    tmp_path: Path,
) -> None:
    """$100.00 of the $420.00 refunded by hand: Revline does not guess what it was for."""
    with _world(tmp_path) as world:
        _meanwhile(world, 9, "part refunded by hand", _refund_by_hand(world, amount=10_000))
        _meanwhile(world, 10, "the case looks again", _look_again(world))
        report = Run(world).play()
        charge = world.stripe.state.get("charge", _the_refund(world).params["charge"])

    assert charge["amount_refunded"] == 10_000  # nothing refunded on top
    (refund,) = _actions(report, REFUND)
    assert refund["status"] == "cancelled"  # the manager is not asked to refund the rest
    assert _actions(report, "netsuite.customer_refund.create") == []
    assert report["emails"] == []  # nothing said to the customer
    assert (_case(report)["state"], _case(report)["queue"]) == ("needs_person", "ar_specialist")


def test_a_charge_disputed_while_its_refund_waits_goes_to_the_ar_specialist(
    tmp_path: Path,
) -> None:
    """The customer disputes the duplicate's charge at 09:10 while its refund waits for the
    manager; the chargeback withdraws the money. Maya approves the refund at 10:30: Stripe
    refuses it (charged back), and the case goes to the AR specialist, flagged as disputed —
    not on to the NetSuite refund and the apology. Stripe refunds nothing."""

    def disputes() -> str:
        charge = str(_the_refund(world).params["charge"])
        world.stripe.state.dispute(charge, reason="duplicate")
        return f"{charge} disputed"

    with _world(tmp_path) as world:
        _meanwhile(world, 9, "the customer disputes the charge", disputes, minute=10)
        _meanwhile(world, 10, "maya approves", _maya(world, approves=True), minute=30)
        report = Run(world).play()
        refund = _the_refund(world)
        refunds = world.stripe.state.newest_first("refund")
    case = _case(report)
    assert (case["state"], case["queue"]) == ("needs_person", "ar_specialist")
    assert refund.status == "failed"
    assert "has been charged back" in str(refund.last_error)
    assert refunds == []
    assert [a for a in report["actions"] if a["kind"] == "netsuite.customer_refund.create"] == []
    with world.runtime.db.read() as session:
        flags = session.execute(select(Case.flags).where(Case.id == case["id"])).scalar_one()
    assert flags == {"dispute_open": True}
