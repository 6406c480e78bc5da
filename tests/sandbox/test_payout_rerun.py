"""A person reruns a morning's payout reconciliation (over HTTP, and as a scenario happening)
against the simulators: what was deposited is never posted again."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from revline.api.app import create_app
from revline.core.auth import create_token
from revline.db.models import Case, Decision, LedgerRow
from revline.sandbox.runner import Run
from revline.sandbox.scenario import load, parse
from revline.sandbox.world import Later, World
from tests.api.helpers import bearer
from tests.support.controls import emergency_stop, press
from tests.support.hand_keyed import keyed_again, keyed_by_hand, paid_in_the_portal

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"
NEW_YORK = ZoneInfo("America/New_York")


def test_the_billing_analyst_reruns_a_deposited_morning_and_nothing_is_posted_twice(
    tmp_path: Path,
) -> None:
    with World(load(CASH / "clean_payout.json"), tmp_path) as world:
        Run(world).play()
        (deposited,) = world.netsuite.books.deposits()
        runtime = world.runtime
        with runtime.db.write() as session:
            _, token = create_token(
                session, name="omar", role="billing_analyst", now=runtime.clock.now()
            )
        with TestClient(create_app(runtime)) as client:
            before = client.get("/api/cash/payouts?date=2026-12-04", headers=bearer(token))
            response = client.post("/api/cash/payouts/2026-12-04/rerun", headers=bearer(token))
        world.worker.drain()
        assert response.status_code == 200
        day = response.json()
        # The rerun finds the deposit the morning posted and says so; it posts nothing.
        assert [p["status"] for p in day["payouts"]] == ["already_deposited"]
        assert world.netsuite.books.deposits() == [deposited]
        # Why each of its lines is what it is stands: the matches the deposit was posted on.
        (matched_on,) = before.json()["payouts"]
        (payout,) = day["payouts"]
        assert len(payout["transactions"]) == 2
        assert payout["transactions"] == matched_on["transactions"]
        assert {t["tier"] for t in payout["transactions"]} == {"exact_charge_id"}
        assert all(t["charge"].startswith("ch_") for t in payout["transactions"])


def test_the_ledger_says_why_each_deposited_payment_is_on_the_deposit(tmp_path: Path) -> None:
    """An auditor reading the ledger alone: the morning's decision row names each payment's
    Stripe balance transaction and charge, the NetSuite payment it matched, the tier and the
    reason; the deposit posted lists those NetSuite payments."""
    with World(load(CASH / "clean_payout.json"), tmp_path) as world:
        Run(world).play()
        with world.runtime.db.read() as session:
            morning = session.execute(
                select(Case).where(Case.subject == "payouts:2026-12-04")
            ).scalar_one()
            rows = session.execute(
                select(LedgerRow).where(LedgerRow.case_id == morning.id).order_by(LedgerRow.seq)
            ).scalars()
            decided = [row.detail for row in rows if row.kind == "decision"]
            posted = session.execute(
                select(LedgerRow.detail).where(
                    LedgerRow.kind == "action.proposed",
                    LedgerRow.case_id == morning.id,
                )
            ).scalars()
            lines = [
                line["reference"]
                for detail in posted
                if detail["kind"] == "netsuite.deposit.create"
                for line in detail["params"]["lines"]
                if line["type"] == "payment"
            ]
    (payout,) = decided[0]["data"]["payouts"]
    matches = payout["matches"]
    assert sorted(m["netsuite"][0] for m in matches) == sorted(lines)
    for match in matches:
        assert match["transaction"].startswith("txn_") and match["charge"].startswith("ch_")
        assert (match["status"], match["tier"]) == ("matched", "exact_charge_id")
        assert match["reason"] == "Stripe charge id carried on the NetSuite record"


def test_the_same_day_run_twice_posts_one_deposit(tmp_path: Path) -> None:
    """examples/cash/same_day_twice.json: the morning of 4 December deposits the payout; the
    billing analyst runs that morning again before noon, and NetSuite still holds one deposit."""
    with World(load(CASH / "same_day_twice.json"), tmp_path) as world:
        report = Run(world).play()
        assert len(world.netsuite.books.deposits()) == 1
        with world.runtime.db.read() as session:
            triggers = (
                session.execute(
                    select(Decision.trigger)
                    .join(Case, Case.id == Decision.case_id)
                    .where(Case.subject == "payouts:2026-12-04")
                    .order_by(Decision.id)
                )
                .scalars()
                .all()
            )
    assert triggers[0] == "event" and triggers[-1] == "manual"  # the morning, then the rerun
    deposits = [a for a in report["actions"] if a["kind"] == "netsuite.deposit.create"]
    assert [(d["status"], d["at"]) for d in deposits] == [("applied", "2026-12-04T08:00:00-05:00")]
    assert report["ledger"]["verified"]


def test_a_rerun_of_a_reconciled_morning_that_finds_a_variance_opens_the_day_again(
    tmp_path: Path,
) -> None:
    """Friday's morning proposed Acme's deposit, held by the emergency stop, and the day was
    reconciled. At 10:00 the AR specialist voids the payment she keyed by hand and keys it
    again $0.50 short; the billing analyst reruns the morning, which now does not tie."""
    document = json.loads((CASH / "clean_payout.json").read_text())
    scenario = parse(
        {
            **document,
            "happenings": [{"at": "2026-12-02T06:00:00-05:00", "type": "payout"}],
            "policy": {"match_amount_drift": 100},
            "until": "2026-12-04T18:00:00-05:00",
        }
    )
    with World(scenario, tmp_path) as world:
        runtime, books = world.runtime, world.netsuite.books

        world.later += [
            Later(datetime(2026, 12, 1, 12, tzinfo=NEW_YORK), "paid", paid_in_the_portal(world)),
            Later(datetime(2026, 12, 1, 15, tzinfo=NEW_YORK), "keyed", keyed_by_hand(world)),
            Later(datetime(2026, 12, 4, 10, tzinfo=NEW_YORK), "short", keyed_again(world, 41_950)),
        ]
        emergency_stop(world, datetime(2026, 12, 3, 17, tzinfo=NEW_YORK), stop=True)
        Run(world).play()
        with runtime.db.write() as session:
            _, token = create_token(
                session, name="omar", role="billing_analyst", now=runtime.clock.now()
            )
        with TestClient(create_app(runtime)) as client:
            response = client.post("/api/cash/payouts/2026-12-04/rerun", headers=bearer(token))
        assert response.status_code == 200, response.text
        day = response.json()
        # Only the payout's figures hold the day: the billing analyst's, as its variance case.
        assert (day["state"], day["queue"]) == ("exceptions", "billing_analyst")
        (payout,) = day["payouts"]
        assert (payout["status"], payout["variance"]) == ("variance", 50)
        # The deposit the stop held moves a payment NetSuite no longer has: once the stop
        # lifts, NetSuite refuses it and it goes to a person; nothing is posted.
        press(runtime, stop=False)
        world.worker.drain()
        assert books.deposits() == []


def test_the_day_reads_as_reconciled_by_its_morning_not_by_an_outcome_hours_later(
    tmp_path: Path,
) -> None:
    """The emergency stop holds Friday's deposit from the 08:00 run until 15:00; the deposit
    then posts. Nobody reran the day: it reads as reconciled at 08:00."""
    with World(load(CASH / "clean_payout.json"), tmp_path) as world:
        runtime = world.runtime
        emergency_stop(world, datetime(2026, 12, 3, 17, tzinfo=NEW_YORK), stop=True)
        emergency_stop(world, datetime(2026, 12, 4, 15, tzinfo=NEW_YORK), stop=False)
        Run(world).play()
        with runtime.db.write() as session:
            _, token = create_token(session, name="vic", role="viewer", now=runtime.clock.now())
        with TestClient(create_app(runtime)) as client:
            day = client.get("/api/cash/payouts?date=2026-12-04", headers=bearer(token)).json()
    assert day["payouts"][0]["deposit"]["status"] == "applied"
    assert day["updated_at"] == "2026-12-04T13:00:00Z"  # 08:00 in New York: the morning run


def test_a_day_deciding_again_on_each_recorded_payment_writes_its_matches_once_per_change(
    tmp_path: Path,
) -> None:
    """examples/cash/payment_missing_in_netsuite.json: the morning records the payment NetSuite
    lacks, and the payment's outcome brings the day back to deposit the payout. The ledger keeps
    all a decision found when the schedule, a person or a change of state brought it; for an
    outcome that leaves the day where it was, only what changed, the day's matches by their
    digest (a day recording a thousand payments would repeat its matches a thousand times)."""
    with World(load(CASH / "payment_missing_in_netsuite.json"), tmp_path) as world:
        Run(world).play()
        with world.runtime.db.read() as session:
            rows = (
                session.execute(
                    select(LedgerRow)
                    .join(Case, Case.id == LedgerRow.case_id)
                    .where(Case.kind == "payout_reconciliation", LedgerRow.kind == "decision")
                    .order_by(LedgerRow.seq)
                )
                .scalars()
                .all()
            )
    assert len(rows) > 1
    for row in rows:
        data = row.detail["data"]
        if row.detail["trigger"] != "action" or row.prior_state != row.post_state:
            assert isinstance(data["payouts"], list), row.detail["explanation"]
        elif data is not None and "payouts" in data:
            assert set(data["payouts"]) == {"sha256", "bytes"}
    deposited = [row for row in rows if "1 deposit(s) proposed" in row.detail["explanation"]]
    assert deposited and all(row.detail["data"]["payouts"] for row in deposited)
