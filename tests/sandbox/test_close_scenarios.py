"""The month-end close played through the sandbox, as the FP&A analyst's procedure reads:
on the second working day, tie Stripe's in-transit balance to NetSuite's Undeposited Funds,
list every customer in dunning with recognition held, resolve any variance above $5, and only
then sign the close off: the close is not signed until the balances tie."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from revline.api import create_app
from revline.core.auth import create_token
from revline.db.models import Action, ActionStatus
from revline.playbooks.cash import close_report
from revline.playbooks.cash.close_actions import SIGN_OFF
from revline.playbooks.cash.tieout import ItemKind
from revline.providers.base import ActionRequest, ProviderError
from revline.sandbox.runner import Run, report
from revline.sandbox.scenario import Scenario, UndepositedFundsEntry, load
from revline.sandbox.world import World

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"
NEW_YORK = ZoneInfo("America/New_York")


def _play(name: str, workdir: Path) -> dict[str, Any]:
    with World(load(CASH / f"{name}.json"), workdir) as world:
        return Run(world).play()


def _of(report: dict[str, Any], key: str, kind: str) -> list[dict[str, Any]]:
    return [entry for entry in report[key] if entry["kind"] == kind]


@contextmanager
def _analyst(world: World) -> Iterator[TestClient]:
    """The API as Jonas, the FP&A analyst, sees it."""
    with world.runtime.db.write() as session:
        _, token = create_token(session, name="jonas", role="fpa_analyst", now=world.clock.now())
    with TestClient(create_app(world.runtime)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _waiting_sign_off(world: World) -> str:
    with world.runtime.db.read() as session:
        return session.execute(
            select(Action.id).where(
                Action.kind == SIGN_OFF, Action.status == ActionStatus.AWAITING_APPROVAL
            )
        ).scalar_one()


def _approved_after_a_receipt(world: World, amount: int) -> dict[str, Any]:
    """Someone keys a receipt of ``amount`` into December's Undeposited Funds after the sign-off
    was proposed; then Jonas approves it. The close report as it stands after."""
    world.enact(
        UndepositedFundsEntry(
            type="undeposited_funds_entry",
            at=world.clock.now(),
            id="late_receipt",
            amount=amount,
            on=date(2026, 12, 31),
        )
    )
    with _analyst(world) as client:
        approved = client.post(f"/api/actions/{_waiting_sign_off(world)}/approve")
        assert approved.status_code == 200, approved.text
        world.worker.drain()
        report: dict[str, Any] = client.get("/api/close/2026-12").json()
        return report


def test_a_month_that_ties_is_signed_off_on_the_second_working_day(tmp_path: Path) -> None:
    with World(load(CASH / "month_that_ties.json"), tmp_path) as world:
        report = Run(world).play()
        last = world.stripe.state.newest_first("payout")[0]
        with world.runtime.db.read() as session:
            found = close_report.load(
                session, "2026-12", world.runtime.settings.policy.max_manual_retries
            )
    # The payout of 31 December arrives on Friday 1 January. Stripe dates that day midnight
    # UTC, still the 31st in New York; the money was in transit at month end all the same.
    assert last["arrival_date"] == int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    (in_transit,) = found.tieout.payouts_in_transit
    assert (in_transit.payout, in_transit.arrival) == (last["id"], date(2027, 1, 1))
    assert ItemKind.PAYOUT_NOT_DEPOSITED not in {item.kind for item in found.tieout.items}
    (close,) = _of(report, "cases", "month_end_close")
    # 1 January 2027 is a Friday and a holiday: the 2nd working day is Tuesday the 5th.
    assert (close["subject"], close["opened_at"]) == ("2026-12", "2027-01-05T09:00:00-05:00")
    assert close["state"] == "signed_off"
    (sign_off,) = _of(report, "actions", "revline.close.sign_off")
    assert sign_off["status"] == "applied"
    assert sign_off["params"]["variance"] == 0
    # Carried out, the sign-off read the books again: they still tie.
    assert (sign_off["result"]["variance"], sign_off["result"]["month"]) == (0, "2026-12")
    assert _of(report, "cases", "close_variance") == []
    assert report["ledger"]["verified"] is True


def test_a_12_40_variance_blocks_sign_off_until_the_books_are_corrected(tmp_path: Path) -> None:
    report = _play("month_with_variance", tmp_path)
    (flag,) = _of(report, "actions", "revline.close.flag_variance")
    assert (flag["at"], flag["params"]["variance"]) == ("2027-01-05T09:00:00-05:00", 1_240)
    (variance,) = _of(report, "cases", "close_variance")
    assert variance["opened_at"] == "2027-01-05T09:00:00-05:00"
    # The correcting entry is keyed on the 6th; the next morning's check ties. The 6th's
    # check, before it, still found the variance: nothing was proposed for sign-off until then.
    assert (variance["state"], variance["closed_at"]) == ("corrected", "2027-01-07T09:00:00-05:00")
    (sign_off,) = _of(report, "actions", "revline.close.sign_off")
    assert (sign_off["at"], sign_off["status"]) == ("2027-01-07T09:00:00-05:00", "applied")
    (close,) = _of(report, "cases", "month_end_close")
    assert close["state"] == "signed_off"


def test_an_explanation_is_recorded_but_only_corrected_books_unblock_the_sign_off(
    tmp_path: Path,
) -> None:
    scenario = load(CASH / "month_with_variance.json")
    correction = scenario.happenings[-1]
    uncorrected = scenario.model_copy(
        update={"happenings": scenario.happenings[:-1], "until": correction.at, "approve": "none"}
    )
    with World(uncorrected, tmp_path) as world:
        Run(world).play()
        with _analyst(world) as client:
            before = client.get("/api/close/2026-12").json()
            assert (before["state"], before["tieout"]["variance"]) == ("variance", 1_240)
            wrong = client.post(
                "/api/close/2026-12/explain", json={"variance": 1_000, "note": "bank fee"}
            ).json()
            assert (wrong["state"], wrong["explanations"]) == ("variance", [])
            explained = client.post(
                "/api/close/2026-12/explain",
                json={"variance": 1_240, "note": "receipt keyed twice; reversed in January"},
            ).json()
            # Recorded for the auditor, but the books still do not tie: still blocked.
            assert explained["state"] == "variance"
            assert explained["variance_case"]["state"] == "open"
            (kept,) = explained["explanations"]
            assert (kept["by"], kept["variance"]) == ("user:jonas", 1_240)
            world.worker.drain()
            assert _of(report(world), "actions", "revline.close.sign_off") == []
            assert client.post("/api/close/2026-12/recheck").json()["state"] == "variance"

            # The books corrected: the hand-keyed receipt reversed, dated 31 December.
            world.enact(correction)
            rechecked = client.post("/api/close/2026-12/recheck").json()
            assert (rechecked["state"], rechecked["tieout"]["ties"]) == ("awaiting_sign_off", True)
            assert rechecked["explanations"] == explained["explanations"]
            world.worker.drain()
            (sign_off,) = _of(report(world), "actions", "revline.close.sign_off")
            assert sign_off["status"] == "awaiting_approval"
            approved = client.post(f"/api/actions/{_waiting_sign_off(world)}/approve")
            assert approved.status_code == 200, approved.text
            world.worker.drain()
            signed = client.get("/api/close/2026-12").json()
        after = report(world)
    assert (signed["state"], signed["signed_off_by"]) == ("signed_off", "user:jonas")
    (variance,) = _of(after, "cases", "close_variance")
    assert variance["state"] == "corrected"


def test_an_approval_after_the_books_moved_signs_nothing(tmp_path: Path) -> None:
    scenario = load(CASH / "month_that_ties.json").model_copy(update={"approve": "none"})
    with World(scenario, tmp_path) as world:
        Run(world).play()
        (waiting,) = _of(report(world), "actions", "revline.close.sign_off")
        assert (waiting["status"], waiting["params"]["variance"]) == ("awaiting_approval", 0)
        # After the proposal, someone keys a $12.40 receipt into December's Undeposited Funds.
        blocked = _approved_after_a_receipt(world, 1_240)
        after = report(world)
    (refused,) = _of(after, "actions", "revline.close.sign_off")
    assert refused["status"] == "failed"
    assert refused["error"] == (
        "2026-12 no longer ties: a variance of $12.40 is above the $5.00 threshold (it was "
        "$0.00 when the sign-off was proposed); nothing is signed off"
    )
    # The failure brought the close back to its check: blocked, with a variance case open.
    assert (blocked["state"], blocked["signed_off_by"]) == ("variance", None)
    assert blocked["tieout"]["variance"] == 1_240
    (variance,) = _of(after, "cases", "close_variance")
    assert (variance["state"], variance["queue"]) == ("open", "fpa_analyst")


def test_the_close_lists_a_customer_in_dunning_with_recognition_held(tmp_path: Path) -> None:
    # Initech's December charge fails at 09:30 and Stripe's Smart Retry fails at 10:30: two
    # failed charges on the subscription, so recognition is held before month end.
    with World(load(CASH / "month_with_dunning_hold.json"), tmp_path) as world:
        played = Run(world).play()
        runtime = world.runtime
        with runtime.db.read() as session:
            found = close_report.load(
                session, "2026-12", runtime.settings.policy.max_manual_retries
            )
    (hold,) = _of(played, "actions", "netsuite.revenue.hold")
    assert (hold["at"], hold["customer"]) == ("2026-12-28T10:30:00-05:00", "initech")
    (dunning,) = _of(played, "cases", "failed_payment")
    assert found.state == "signed_off" and found.tieout.ties

    document = found.model_dump(mode="json")
    (held,) = document["held_recognition"]
    assert held["customer"] == "Initech LLC"
    assert (held["held_amount"], held["currency"]) == (240_000, "USD")
    assert held["held_since"] == "2026-12-28T15:30:00Z"
    (case,) = held["dunning"]
    assert (case["case_id"], case["tier"], case["state"]) == (dunning["id"], "standard", "retrying")
    # One manual retry by month end's close (31 December); the next falls on 6 January.
    assert (case["manual_attempts"], case["max_manual_attempts"]) == (1, 3)

    text = close_report.markdown(found, timezone="America/New_York")
    row = next(line for line in text.splitlines() if line.startswith("| Initech LLC |"))
    assert row.endswith(
        f"| $2,400.00 | 2026-12-28 10:30 EST | {dunning['id']} | in_initech_dec | standard "
        "| retrying | 1/3 |"
    )


def test_a_payout_returned_after_month_end_counts_as_it_stood_at_month_end(tmp_path: Path) -> None:
    """A paid payout can flip to failed later. December's first payout reached the bank and was
    deposited in December; the bank returns it on 4 January, before the tie-out. At month end
    its money was in the bank, so the month still ties: only a payout returned by month end
    gave its money back to the balance then."""
    scenario = load(CASH / "month_that_ties.json")
    before_close = datetime(2027, 1, 4, 12, tzinfo=ZoneInfo("America/New_York"))
    with World(scenario.model_copy(update={"until": before_close}), tmp_path) as world:
        Run(world).play()
        first = world.stripe.state.newest_first("payout")[-1]
        assert first["status"] == "paid"
        world.stripe.state.fail_payout(first["id"])
        world.scenario = scenario.model_copy(update={"happenings": []})
        report = Run(world).play()
    (close,) = _of(report, "cases", "month_end_close")
    assert close["state"] == "signed_off"
    (sign_off,) = _of(report, "actions", "revline.close.sign_off")
    assert sign_off["params"]["variance"] == 0


def _dunning_month(start: str, until: str, *more: dict[str, Any]) -> Scenario:
    """December with Initech in dunning (``month_with_dunning_hold``), from ``start`` to
    ``until``, with ``more`` happenings."""
    scenario = json.loads((CASH / "month_with_dunning_hold.json").read_text())
    scenario.update(start=start, until=until)
    scenario["happenings"] += more
    return Scenario.model_validate(scenario)


# Initech's November invoice fails on 10 December, twice by its Smart Retry: recognition is held
# from then, eighteen days before the December invoice fails too.
NOVEMBER_FAILS = {
    "at": "2026-12-10T09:30:00-05:00",
    "type": "payment_fails",
    "customer": "initech",
    "invoice": "in_initech_nov",
    "invoice_number": "INV-2026-1200",
    "amount": 240_000,
    "code": "card_declined",
}


def test_a_customer_in_dunning_on_two_invoices_is_listed_with_both_cases(tmp_path: Path) -> None:
    scenario = _dunning_month(
        "2026-12-08T07:00:00-05:00", "2027-01-05T12:00:00-05:00", NOVEMBER_FAILS
    )
    with World(scenario, tmp_path) as world:
        Run(world).play()
        with world.runtime.db.read() as session:
            found = close_report.load(session, "2026-12", 3)
    (held,) = found.held_recognition
    # Held since the November invoice's hold, and both cases behind it, oldest first.
    assert held.held_since is not None
    assert held.held_since.astimezone(NEW_YORK).date() == date(2026, 12, 10)
    assert [(c.invoice, c.state, c.manual_attempts) for c in held.dunning] == [
        ("in_initech_nov", "exhausted", 3),
        ("in_initech_dec", "retrying", 1),
    ]
    text = close_report.markdown(found, timezone="America/New_York")
    november, december = [line for line in text.splitlines() if "| in_initech_" in line]
    assert november.startswith(
        "| Initech LLC | RP-300, RP-301 | $4,800.00 | 2026-12-10 10:30 EST | "
    )
    assert november.endswith("| in_initech_nov | standard | exhausted | 3/3 |")
    assert december.startswith("| | | | | ")
    assert december.endswith("| in_initech_dec | standard | retrying | 1/3 |")


def test_the_signed_report_keeps_the_holds_as_they_were_when_signed(tmp_path: Path) -> None:
    """December is signed off on 5 January; Initech updates its card and pays both invoices on
    the 6th. The December report still shows the hold and the cases as they stood when signed."""
    paid = [
        {"at": "2027-01-06T10:00:00-05:00", "type": "card_updated", "customer": "initech"},
        *(
            {
                "at": f"2027-01-06T11:{minute}:00-05:00",
                "type": "payment_succeeds",
                "customer": "initech",
                "invoice": invoice,
                "via": "card",
            }
            for minute, invoice in (("00", "in_initech_dec"), ("30", "in_initech_nov"))
        ),
    ]
    scenario = _dunning_month(
        "2026-12-08T07:00:00-05:00", "2027-01-08T12:00:00-05:00", NOVEMBER_FAILS, *paid
    )
    with World(scenario, tmp_path) as world:
        played = Run(world).play()
        with world.runtime.db.read() as session:
            found = close_report.load(session, "2026-12", 3)
    assert {c["state"] for c in _of(played, "cases", "failed_payment")} == {"recovered"}
    assert found.state == "signed_off"
    (held,) = found.held_recognition
    assert [(c.invoice, c.state) for c in held.dunning] == [
        ("in_initech_nov", "exhausted"),
        ("in_initech_dec", "retrying"),
    ]


def test_the_signed_report_shows_the_balances_the_sign_off_read(tmp_path: Path) -> None:
    """After the sign-off is proposed a $4.00 receipt is keyed into December: still within the
    $5.00 threshold, so Jonas's approval signs the month, on the books as they are then."""
    scenario = load(CASH / "month_that_ties.json").model_copy(update={"approve": "none"})
    with World(scenario, tmp_path) as world:
        Run(world).play()
        signed = _approved_after_a_receipt(world, 400)
        (sign_off,) = _of(report(world), "actions", "revline.close.sign_off")
    assert (sign_off["status"], sign_off["params"]["variance"]) == ("applied", 0)
    assert signed["state"] == "signed_off"
    assert signed["tieout"]["variance"] == sign_off["result"]["variance"] == 400
    assert signed["tieout"]["undeposited_funds"] == sign_off["result"]["undeposited_funds"]


def _sign_offs(world: World) -> list[str]:
    with world.runtime.db.read() as session:
        query = select(Action.status).where(Action.kind == SIGN_OFF).order_by(Action.created_at)
        return [str(status) for status in session.execute(query).scalars()]


def test_a_check_while_the_sign_off_is_carried_out_proposes_no_second_one(
    tmp_path: Path,
) -> None:
    """Jonas approves; a worker takes the sign-off up and is slow (or dies and its lease runs
    out); meanwhile he asks for a re-check. The month is signed off once, and its report reads."""
    scenario = load(CASH / "month_that_ties.json").model_copy(update={"approve": "none"})
    with World(scenario, tmp_path) as world:
        Run(world).play()
        with _analyst(world) as client:
            approved = client.post(f"/api/actions/{_waiting_sign_off(world)}/approve")
            assert approved.status_code == 200, approved.text
            with world.runtime.db.write() as session:
                taken = world.worker.executor._claim(session, world.clock.now())
            assert len(taken) == 1
            assert _sign_offs(world) == ["executing"]
            assert client.post("/api/close/2026-12/recheck").status_code == 200
            assert _sign_offs(world) == ["executing"]  # nothing new proposed beside it
            world.clock.advance(timedelta(minutes=5))  # the lease runs out; another worker
            world.worker.drain()
            assert _sign_offs(world) == ["applied"]
            signed = client.get("/api/close/2026-12")
            assert signed.status_code == 200, signed.text
            assert signed.json()["state"] == "signed_off"


def test_a_second_sign_off_of_a_signed_month_signs_nothing(tmp_path: Path) -> None:
    """Whatever proposed it (a sign-off approved before 2026-12-08 beside the first, a person
    through another route), carrying out a second sign-off of a signed month is refused."""
    with World(load(CASH / "month_that_ties.json"), tmp_path) as world:
        Run(world).play()
        with world.runtime.db.read() as session:
            (first,) = session.execute(select(Action).where(Action.kind == SIGN_OFF)).scalars()
            params = dict(first.params)
        sign_off = world.worker.executor.handlers.get(SIGN_OFF)
        assert sign_off is not None
        with pytest.raises(ProviderError, match=r"2026-12 is already signed off \(action act_"):
            sign_off(ActionRequest("act_second", SIGN_OFF, "2026-12", params, "other-key", 1))
