"""A payout the bank returns, played through the sandbox. Stripe puts the returned money back on
the balance (a ``payout_failure`` balance transaction) and the next automatic payout pays it out
again. Its deposit carries the returned payout's own movements when NetSuite never deposited it;
when NetSuite had deposited it, the money came back from the bank and a person books the return.
At month end the returned money is counted once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from revline.core.cases import CaseView
from revline.core.playbook import Facts, Trigger
from revline.db.models import Case, Decision
from revline.playbooks.cash import close_report
from revline.playbooks.cash.payout_day import payouts_of
from revline.playbooks.cash.payouts import PayoutReconciliation
from revline.sandbox.runner import Run
from revline.sandbox.scenario import Scenario, parse
from revline.sandbox.world import Later, World
from tests.support.controls import emergency_stop
from tests.support.hand_keyed import keyed_again, keyed_by_hand, paid_in_the_portal

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"
NEW_YORK = ZoneInfo("America/New_York")
DEPOSIT = "netsuite.deposit.create"
# Stripe's standard pricing, 2.9 % + 30¢, on the clean payout's two payments.
FEES_ON_A = (5_220 + 30) + (36_250 + 30)
FEE_ON_BLUEFIN_2 = 1_450 + 30


def _scenario(until: str, *happenings: dict[str, Any]) -> Scenario:
    """The clean payout's company and customers: Bluefin pays 1,800.00 and Acme 12,500.00 on
    1 December, then what the test plays."""
    document = json.loads((CASH / "clean_payout.json").read_text())
    return parse(
        {**document, "until": until, "happenings": [*document["happenings"][:2], *happenings]}
    )


def _payout(day: int, hour: int) -> dict[str, Any]:
    return {"at": f"2026-12-{day:02d}T{hour:02d}:00:00-05:00", "type": "payout"}


def _bluefin_pays(day: int, hour: int) -> dict[str, Any]:
    return {
        "at": f"2026-12-{day:02d}T{hour:02d}:00:00-05:00",
        "type": "payment",
        "customer": "bluefin",
        "invoice": "in_bluefin_2",
        "invoice_number": "INV-2026-1240",
        "amount": 50_000,
    }


def _the_bank_returns_the_first_payout(world: World, day: int, hour: int) -> Callable[[], str]:
    def returned() -> str:
        first = world.stripe.state.newest_first("payout")[-1]
        world.stripe.state.fail_payout(first["id"])
        return f"payout {first['id']} returned"

    world.later.append(
        Later(datetime(2026, 12, day, hour, tzinfo=NEW_YORK), "the bank returns payout", returned)
    )
    return returned


def _actions(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in report["actions"] if a["kind"] == kind]


def test_a_payout_returned_before_its_deposit_is_carried_by_the_next_payouts_deposit(
    tmp_path: Path,
) -> None:
    """Payout A (both payments of 1 December) is in transit when the bank returns it on
    Wednesday at noon; nothing was deposited for it. That afternoon payout B pays A's money out
    again with Bluefin's 500.00. Friday's run deposits B: A's payments move out of Undeposited
    Funds beside Bluefin's, and A's fees are on the fee line with B's."""
    scenario = _scenario(
        "2026-12-04T18:00:00-05:00", _payout(2, 6), _bluefin_pays(2, 13), _payout(2, 14)
    )
    with World(scenario, tmp_path) as world:
        _the_bank_returns_the_first_payout(world, 2, 12)
        played = Run(world).play()
        payout_b, payout_a = world.stripe.state.newest_first("payout")
        deposits = world.netsuite.books.deposits()

    assert payout_a["status"] == "failed"
    assert payout_b["amount"] == payout_a["amount"] + 50_000 - FEE_ON_BLUEFIN_2
    (deposit,) = _actions(played, DEPOSIT)
    assert (deposit["subject"], deposit["status"]) == (payout_b["id"], "applied")
    assert deposit["at"] == "2026-12-04T08:00:00-05:00"
    assert [(line["type"], line["amount"]) for line in deposit["params"]["lines"]] == [
        ("payment", 180_000),
        ("payment", 1_250_000),
        ("payment", 50_000),
        ("fee", -(FEES_ON_A + FEE_ON_BLUEFIN_2)),
    ]
    assert deposit["params"]["lines"][-1]["account"] == "6700-8"
    assert deposit["params"]["amount"] == payout_b["amount"]
    assert [d.stripe_payout_id for d in deposits] == [payout_b["id"]]
    assert _actions(played, "revline.payout_variance.flag") == []
    assert played["ledger"]["verified"] is True


def test_a_payout_returned_after_its_deposit_holds_the_next_payout_for_a_person(
    tmp_path: Path,
) -> None:
    """Payout A is deposited on Friday morning; that afternoon the bank returns it, and payout B
    pays A's money out again with Bluefin's 500.00. A's payments left Undeposited Funds with its
    deposit: the money came back from the bank, which only a person can book. Monday's run posts
    nothing for B, says why, and the billing analyst's payout variance case names payout A and
    its NetSuite deposit."""
    scenario = _scenario(
        "2026-12-07T18:00:00-05:00", _payout(2, 6), _bluefin_pays(4, 13), _payout(4, 14)
    )
    with World(scenario, tmp_path) as world:
        _the_bank_returns_the_first_payout(world, 4, 12)
        played = Run(world).play()
        payout_b, payout_a = world.stripe.state.newest_first("payout")
        (deposit_a,) = world.netsuite.books.deposits()
        with world.runtime.db.read() as session:
            monday = payouts_of(session, date(2026, 12, 7))
            (case,) = session.execute(select(Case).where(Case.kind == "payout_variance")).scalars()
            explanation = (
                session.execute(
                    select(Decision.explanation)
                    .where(Decision.case_id == case.id)
                    .order_by(Decision.at.desc(), Decision.id.desc())
                )
                .scalars()
                .first()
            )

    assert deposit_a.stripe_payout_id == payout_a["id"]
    assert [a["subject"] for a in _actions(played, DEPOSIT)] == [payout_a["id"]]
    (held,) = monday.payouts
    assert (held.payout, held.status, held.deposit) == (payout_b["id"], "returned_payout", None)
    assert [(r.payout, r.amount, r.deposits) for r in held.returned] == [
        (payout_a["id"], payout_a["amount"], [deposit_a.id])
    ]
    assert held.variance == 0  # the lines tie but for the returned money
    assert held.variance_case is not None and held.variance_case.case_id == case.id
    (flag,) = _actions(played, "revline.payout_variance.flag")
    assert flag["params"]["returned"] == [
        {"payout": payout_a["id"], "amount": payout_a["amount"], "deposits": [deposit_a.id]}
    ]
    assert (case.subject, case.state, case.queue) == (payout_b["id"], "open", "billing_analyst")
    assert explanation is not None
    assert payout_a["id"] in explanation and deposit_a.id in explanation
    assert "returned" in explanation and "by hand" in explanation
    assert played["ledger"]["verified"] is True


def test_a_held_deposit_of_a_payout_the_bank_returns_is_withdrawn_and_never_posts(
    tmp_path: Path,
) -> None:
    """The controller presses the emergency stop on Thursday evening, so Friday's run proposes
    payout A's deposit and it is held. At noon the bank returns A; Stripe says so
    (``payout.failed``) and Revline withdraws A's held deposit at once: A's money never reached
    the bank account. The stop is lifted at three and nothing posts for A. That afternoon
    payout B pays A's money out again with Bluefin's 500.00, and Monday's run deposits B with
    A's payments: NetSuite books one deposit, B's."""
    scenario = _scenario(
        "2026-12-07T18:00:00-05:00", _payout(2, 6), _bluefin_pays(4, 13), _payout(4, 14)
    )
    with World(scenario, tmp_path) as world:
        emergency_stop(world, datetime(2026, 12, 3, 17, tzinfo=NEW_YORK), stop=True)
        _the_bank_returns_the_first_payout(world, 4, 12)
        emergency_stop(world, datetime(2026, 12, 4, 15, tzinfo=NEW_YORK), stop=False)
        played = Run(world).play()
        payout_b, payout_a = world.stripe.state.newest_first("payout")
        deposits = world.netsuite.books.deposits()
        with world.runtime.db.read() as session:
            cases = session.execute(
                select(Case.kind, Case.state, Decision.explanation)
                .join(Decision, Decision.case_id == Case.id)
                .where(Case.subject == f"payout:{payout_a['id']}")
            ).all()

    held, posted = _actions(played, DEPOSIT)
    assert (held["subject"], held["status"]) == (payout_a["id"], "cancelled")
    assert held["error"] == f"withdrawn: payout {payout_a['id']} was returned by the bank"
    assert (posted["subject"], posted["status"]) == (payout_b["id"], "applied")
    assert [line["type"] for line in posted["params"]["lines"]] == [
        "payment",
        "payment",
        "payment",
        "fee",
    ]
    assert posted["params"]["amount"] == payout_b["amount"]
    assert [d.stripe_payout_id for d in deposits] == [payout_b["id"]]
    ((kind, state, explanation),) = cases
    assert (kind, state) == ("payout_reconciliation", "reconciled")
    assert explanation.startswith(f"payout {payout_a['id']} of $13,884.70 was returned by the bank")
    assert "a deposit proposed for it and not yet posted is withdrawn" in explanation
    assert played["ledger"]["verified"] is True


def test_a_payout_returned_while_the_morning_reads_its_facts_is_never_deposited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Friday's run reads payout A as paid. While it gathers its facts, the bank returns A and
    another worker routes Stripe's ``payout.failed``: A's own case withdraws A's deposit before
    any was proposed. The morning then proposes it from what it read, and it is cancelled as it
    is proposed: NetSuite never books money that did not reach the bank. Monday's run deposits
    B with A's payments."""
    reads = PayoutReconciliation.enrich
    returned: list[str] = []

    with World(
        _scenario("2026-12-07T18:00:00-05:00", _payout(2, 6), _payout(4, 14)), tmp_path
    ) as world:

        def meanwhile(self: Any, case: CaseView, trigger: Trigger, enrichment: Any) -> Facts:
            facts = reads(self, case, trigger, enrichment)
            if not returned and case.subject == "payouts:2026-12-04":
                payout_a = world.stripe.state.newest_first("payout")[-1]
                world.stripe.state.fail_payout(payout_a["id"])
                world.stripe.flush_webhooks()
                world.runtime.router().route_pending()
                returned.append(payout_a["id"])
            return facts

        monkeypatch.setattr(PayoutReconciliation, "enrich", meanwhile)
        played = Run(world).play()
        payout_b, payout_a = world.stripe.state.newest_first("payout")
        deposits = world.netsuite.books.deposits()

    assert returned == [payout_a["id"]]
    late, posted = _actions(played, DEPOSIT)
    assert (late["subject"], late["status"]) == (payout_a["id"], "cancelled")
    assert late["error"] == f"withdrawn: payout {payout_a['id']} was returned by the bank"
    assert (posted["subject"], posted["status"]) == (payout_b["id"], "applied")
    assert [d.stripe_payout_id for d in deposits] == [payout_b["id"]]
    assert played["ledger"]["verified"] is True


def test_a_person_asking_the_returned_payouts_case_to_decide_again_gets_the_same_answer(
    tmp_path: Path,
) -> None:
    scenario = _scenario("2026-12-04T18:00:00-05:00", _payout(2, 6))
    with World(scenario, tmp_path) as world:
        _the_bank_returns_the_first_payout(world, 3, 12)
        Run(world).play()
        (payout_a,) = world.stripe.state.newest_first("payout")
        router = world.runtime.router()
        with world.runtime.db.read() as session:
            (case_id,) = session.execute(
                select(Case.id).where(Case.subject == f"payout:{payout_a['id']}")
            ).scalars()
        router.decide_now(case_id, "user:priya", {"reason": "check"})
        with world.runtime.db.read() as session:
            case = session.get(Case, case_id)
            explanations = session.execute(
                select(Decision.explanation).where(Decision.case_id == case_id)
            ).scalars()
            said = list(explanations)

    assert case is not None and case.state == "reconciled"
    assert len(said) == 2 and said[0] == said[1]
    assert said[0].startswith(f"payout {payout_a['id']} of $13,884.70 was returned by the bank")


def _close_of_december(world: World) -> close_report.CloseReport:
    with world.runtime.db.read() as session:
        return close_report.load(
            session, "2026-12", world.runtime.settings.policy.max_manual_retries
        )


def test_a_payout_returned_and_paid_out_again_is_counted_once_at_month_end(
    tmp_path: Path,
) -> None:
    """Acme's 1,000.00 of 10 December is on payout P1, which the bank returns in transit on the
    11th; P2 on the 14th pays it out again and is deposited on the 15th. At month end Stripe
    holds nothing, nothing is in transit and Undeposited Funds is empty: the close ties."""
    document = json.loads((CASH / "clean_payout.json").read_text())
    scenario = parse(
        {
            **document,
            "start": "2026-12-09T07:00:00-05:00",
            "until": "2027-01-05T12:00:00-05:00",
            "approve": "all",
            "happenings": [
                {
                    "at": "2026-12-10T10:00:00-05:00",
                    "type": "payment",
                    "customer": "acme",
                    "invoice": "in_a1",
                    "invoice_number": "INV-1",
                    "amount": 100_000,
                },
                {"at": "2026-12-11T06:00:00-05:00", "type": "payout"},
                {"at": "2026-12-14T06:00:00-05:00", "type": "payout"},
            ],
        }
    )
    with World(scenario, tmp_path) as world:
        _the_bank_returns_the_first_payout(world, 11, 12)
        played = Run(world).play()
        tieout = _close_of_december(world).tieout

    (deposit,) = _actions(played, DEPOSIT)
    assert deposit["status"] == "applied"
    assert tieout.balance_not_paid_out == 0
    assert tieout.payouts_in_transit == []
    assert tieout.items == []
    assert (tieout.undeposited_funds, tieout.variance) == (0, 0)


def test_a_payout_returned_after_its_deposit_is_an_item_of_the_month_it_was_returned_in(
    tmp_path: Path,
) -> None:
    """December as ``month_that_ties`` plays it; the bank returns the payout of the 29th on the
    31st at noon, after its deposit of the 30th, and Stripe pays it out again at 14:00 on a
    payout still in transit at month end. Stripe holds the money again; NetSuite's books have it
    in the bank. The walk says so in one item, counts the returned payout's fees once, and ties."""
    document = json.loads((CASH / "month_that_ties.json").read_text())
    document["happenings"].append({"at": "2026-12-31T14:00:00-05:00", "type": "payout"})
    with World(parse(document), tmp_path) as world:

        def returned() -> str:
            deposited = world.stripe.state.newest_first("payout")[-1]
            world.stripe.state.fail_payout(deposited["id"])
            return f"payout {deposited['id']} returned"

        world.later.append(
            Later(datetime(2026, 12, 31, 12, tzinfo=NEW_YORK), "the bank returns it", returned)
        )
        Run(world).play()
        first = world.stripe.state.newest_first("payout")[-1]
        (its_deposit,) = [
            d for d in world.netsuite.books.deposits() if d.stripe_payout_id == first["id"]
        ]
        tieout = _close_of_december(world).tieout

    assert first["status"] == "failed" and its_deposit.date == date(2026, 12, 30)
    returned_item = [i for i in tieout.items if i.kind.value == "payout_returned_after_deposit"]
    assert [(i.reference, i.amount, i.on) for i in returned_item] == [
        (first["id"], -first["amount"], date(2026, 12, 31))
    ]
    assert f"after NetSuite deposit {its_deposit.id} of 2026-12-30" in returned_item[0].description
    # The returned payout's fees were booked on its deposit: the fee items are the two payouts
    # in transit at month end, the morning's (5,250) and the afternoon's (11,630), no more.
    fees = [i.amount for i in tieout.items if i.kind.value == "fees_not_booked"]
    assert sorted(fees) == [5_250, 11_630]
    assert tieout.variance == 0 and tieout.ties


def test_the_variance_case_of_a_payout_the_bank_returned_is_resolved(tmp_path: Path) -> None:
    """Acme's portal payment was keyed by hand $0.50 short: Friday's morning cannot tie the
    first payout and opens its variance case. The bank returns that payout at noon, and the
    payment is corrected; the money is paid out again that evening and deposited on Monday.
    The first payout's case does not wait for a deposit that must never be made."""
    scenario = parse(
        {
            **json.loads((CASH / "clean_payout.json").read_text()),
            "happenings": [_payout(2, 6), _payout(4, 18)],
            "policy": {"match_amount_drift": 100},
            "until": "2026-12-09T18:00:00-05:00",
        }
    )
    with World(scenario, tmp_path) as world:
        world.later += [
            Later(datetime(2026, 12, 1, 12, tzinfo=NEW_YORK), "paid", paid_in_the_portal(world)),
            Later(
                datetime(2026, 12, 1, 15, tzinfo=NEW_YORK), "short", keyed_by_hand(world, 41_950)
            ),
            Later(
                datetime(2026, 12, 4, 15, tzinfo=NEW_YORK), "corrected", keyed_again(world, 42_000)
            ),
        ]
        _the_bank_returns_the_first_payout(world, 4, 12)
        report = Run(world).play()
        first, again = reversed(world.stripe.state.newest_first("payout"))

    assert (first["status"], again["status"]) == ("failed", "paid")
    (variance,) = [c for c in report["cases"] if c["kind"] == "payout_variance"]
    assert (variance["subject"], variance["state"], variance["queue"]) == (
        first["id"],
        "resolved",
        None,
    )
    (deposit,) = [a for a in _actions(report, DEPOSIT) if a["status"] == "applied"]
    assert deposit["params"]["payout"] == again["id"]
