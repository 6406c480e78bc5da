"""A duplicate's refund that Stripe makes pending, as a bank debit's refund is, settles hours or
days later. Until Stripe says it succeeded nothing is booked and nothing is said to the
customer; the case reads the refund again every hour, and at once when Stripe says it settled.
A refund that fails is the AR specialist's, and the customer hears nothing. One that fails
after it succeeded (the card since closed) opens the resolved case again for her."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from revline.api import create_app
from revline.core.auth import create_token
from revline.db.models import LedgerRow
from revline.sandbox.runner import Run
from revline.sandbox.scenario import load
from revline.sandbox.world import Later, World
from tests.api.helpers import bearer
from tests.support.netsuite import gl_balance

SCENARIO = (
    Path(__file__).resolve().parents[2] / "examples" / "cash" / "duplicate_invoice_refunded.json"
)
NEW_YORK = ZoneInfo("America/New_York")
SETTLES = datetime(2026, 12, 4, 12, 30, tzinfo=NEW_YORK)
# Monday after: Stripe fails the refund that had succeeded on Wednesday morning.
FAILS_LATER = datetime(2026, 12, 7, 10, tzinfo=NEW_YORK)


def _stripe_settles(world: World, succeeded: bool) -> Callable[[], str]:
    """Stripe settles the duplicate's refund: it reaches the customer, or it fails."""

    def run() -> str:
        (refund,) = world.stripe.state.newest_first("refund")
        world.stripe.state.settle_refund(refund["id"], succeeded=succeeded)
        return f"{refund['id']} {'succeeded' if succeeded else 'failed'}"

    return run


@dataclass(frozen=True)
class Played:
    report: dict[str, Any]
    refunds_gl: int  # the balance of the refunds' account (4090) at the end
    explanations: list[str]  # the duplicate case's decisions, in order


def _play(tmp_path: Path, succeeded: bool, *, later: bool = True) -> Played:
    """Bluefin paid INV-2026-1302 twice over; found and refunded the morning of Wednesday
    2 December. ``later``: the refund pending until Stripe settles it on Friday at 12:30;
    otherwise it succeeds at once and, if not ``succeeded``, fails on Monday at 10:00."""
    with World(load(SCENARIO), tmp_path) as world:
        world.stripe.state.refunds_settle_later = later
        at = SETTLES if later else FAILS_LATER
        world.later.append(
            Later(at, "Stripe settles the refund", _stripe_settles(world, succeeded))
        )
        report = Run(world).play()
        explanations = _explanations(world, _case(report)["id"])
        return Played(report, gl_balance(world, "4090"), explanations)


def _explanations(world: World, case_id: str) -> list[str]:
    """The case's decisions, in order, as the ledger has them."""
    with world.runtime.db.read() as session:
        found = session.execute(
            select(LedgerRow.detail["explanation"].as_string())
            .where(LedgerRow.case_id == case_id, LedgerRow.kind == "decision")
            .order_by(LedgerRow.seq)
        ).scalars()
        return [str(e) for e in found]


def _actions(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in report["actions"] if a["kind"] == kind]


def _case(report: dict[str, Any]) -> dict[str, Any]:
    (case,) = [c for c in report["cases"] if c["kind"] == "duplicate_invoice"]
    return case


def test_the_books_and_the_apology_wait_for_stripe_to_settle_the_refund(tmp_path: Path) -> None:
    played = _play(tmp_path, succeeded=True)
    report = played.report
    (refund,) = _actions(report, "stripe.refund.create")
    assert (refund["status"], refund["result"]["status"]) == ("applied", "pending")
    (books_refund,) = _actions(report, "netsuite.customer_refund.create")
    (email,) = report["emails"]
    # Made in the morning; read again every hour; told as soon as Stripe said it settled.
    made, told = datetime.fromisoformat(refund["at"]), datetime.fromisoformat(email["at"])
    assert made < SETTLES <= told <= SETTLES + timedelta(minutes=5)
    assert books_refund["status"] == "applied"
    assert any("is pending: read again at" in e for e in played.explanations)
    assert (_case(report)["state"], _case(report)["queue"]) == ("resolved", None)
    assert report["ledger"]["verified"] is True


def test_a_refund_stripe_failed_goes_to_the_ar_specialist_and_nothing_is_said(
    tmp_path: Path,
) -> None:
    played = _play(tmp_path, succeeded=False)
    report = played.report
    (refund,) = _actions(report, "stripe.refund.create")
    assert refund["status"] == "applied"
    assert _actions(report, "netsuite.customer_refund.create") == []
    assert report["emails"] == []
    case = _case(report)
    assert (case["state"], case["queue"]) == ("needs_person", "ar_specialist")
    assert f"Stripe's refund {refund['result']['refund']} failed" in played.explanations[-1]
    # The money came back to Stripe's balance before Friday's 13:00 payout: its deposit books
    # the refund and its failure on 4090, where they cancel.
    assert played.refunds_gl == 0
    assert report["ledger"]["verified"] is True


def test_a_refund_stripe_fails_after_it_succeeded_goes_back_to_the_ar_specialist(
    tmp_path: Path,
) -> None:
    played = _play(tmp_path, succeeded=False, later=False)
    report = played.report
    (refund,) = _actions(report, "stripe.refund.create")
    assert refund["result"]["status"] == "succeeded"
    (books_refund,) = _actions(report, "netsuite.customer_refund.create")
    assert books_refund["status"] == "applied"
    assert len(report["emails"]) == 1  # the apology, once; nothing more is said by itself
    case = _case(report)
    assert (case["state"], case["queue"]) == ("needs_person", "ar_specialist")
    assert any("voided, its charge refunded, the customer told" in e for e in played.explanations)
    last = played.explanations[-1]
    assert f"Stripe's refund {refund['result']['refund']} failed" in last
    assert "the customer refund booked in NetSuite (on 4090) and the apology stand" in last
    assert report["ledger"]["verified"] is True


def test_the_ar_specialist_settles_a_failed_refund_by_hand_and_the_case_resolves(
    tmp_path: Path,
) -> None:
    """Stripe failed the refund after it succeeded; Priya reverses the customer refund in
    NetSuite and tells Kenji, then says so on the case: it resolves with her note."""
    with World(load(SCENARIO), tmp_path) as world:
        world.later.append(
            Later(FAILS_LATER, "Stripe fails the refund", _stripe_settles(world, False))
        )
        report = Run(world).play()
        case_id = _case(report)["id"]
        runtime = world.runtime
        with runtime.db.write() as session:
            _, priya = create_token(
                session, name="priya", role="ar_specialist", now=runtime.clock.now()
            )
            _, vic = create_token(session, name="vic", role="viewer", now=runtime.clock.now())
        note = {"note": "customer refund reversed in NetSuite; $420.00 sent to Kenji by ACH"}
        with TestClient(create_app(runtime)) as client:
            assert (
                client.post(
                    f"/api/cases/{case_id}/settle", json=note, headers=bearer(vic)
                ).status_code
                == 403
            )
            blank = client.post(
                f"/api/cases/{case_id}/settle", json={"note": " "}, headers=bearer(priya)
            )
            assert blank.status_code == 400
            settled = client.post(f"/api/cases/{case_id}/settle", json=note, headers=bearer(priya))
            assert settled.status_code == 200, settled.text
            assert settled.json() == {"case_id": case_id, "state": "resolved", "queue": None}
            again = client.post(f"/api/cases/{case_id}/settle", json=note, headers=bearer(priya))
            assert again.status_code == 409
            # Asked to decide again, the settled case stays settled.
            rechecked = client.post(f"/api/cases/{case_id}/recheck", headers=bearer(priya))
            assert (rechecked.status_code, rechecked.json()["state"]) == (200, "resolved")
            unknown = client.post("/api/cases/cas_nope/recheck", headers=bearer(priya))
            assert unknown.status_code == 404
        explanations = _explanations(world, case_id)
    assert explanations[-2:] == [
        f"settled by hand by user:priya: {note['note']}",
        "nothing new for this duplicate invoice",  # the recheck after it
    ]
