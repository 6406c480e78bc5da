"""The cash procedures played through the sandbox: simulators, webhooks, worker, adapters."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from revline.core import controls
from revline.db.models import Case, Decision
from revline.playbooks.cash.payout_day import payouts_of
from revline.sandbox.runner import Run, report
from revline.sandbox.scenario import Scenario, load, parse
from revline.sandbox.world import Later, World
from tests.support.controls import press

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"
NEW_YORK = ZoneInfo("America/New_York")


def _play(name: str, workdir: Path) -> dict[str, Any]:
    with World(load(CASH / f"{name}.json"), workdir) as world:
        return Run(world).play()


def _actions(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in report["actions"] if a["kind"] == kind]


def _cases(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in report["cases"] if c["kind"] == kind]


def _example(name: str, **changes: Any) -> Scenario:
    """An example scenario with some of its top-level fields replaced."""
    document = json.loads((CASH / f"{name}.json").read_text())
    return parse({**document, **changes})


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=NEW_YORK)


def _meanwhile(world: World, day: int, hour: int, what: str, run: Callable[[], Any]) -> None:
    """Something a person does in Stripe or NetSuite while the scenario plays."""
    world.later.append(Later(_at(day, hour), what, run))


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


def test_a_deposit_is_dated_the_day_stripe_says_the_payout_arrives(tmp_path: Path) -> None:
    """Stripe dates a payout's arrival as midnight UTC of the day, which is still the evening
    before in New York: the payout arriving on Thursday 3 December is deposited on Friday's run,
    dated Thursday, the day the bank received it."""
    with World(load(CASH / "clean_payout.json"), tmp_path) as world:
        played = Run(world).play()
        (stripe_payout,) = world.stripe.state.newest_first("payout")
        (booked,) = world.netsuite.books.deposits()

    assert stripe_payout["arrival_date"] == int(datetime(2026, 12, 3, tzinfo=UTC).timestamp())
    (deposit,) = _actions(played, "netsuite.deposit.create")
    assert (deposit["at"], deposit["params"]["date"]) == ("2026-12-04T08:00:00-05:00", "2026-12-03")
    assert booked.date == date(2026, 12, 3)


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
    """The payer typed dnaa.reyes@acme.example: Acme's AP contact, two letters swapped, is the
    customer proposed, the evidence saying so."""
    with World(load(CASH / "orphan_mistyped_email.json"), tmp_path) as world:
        played = Run(world).play()
        with world.runtime.db.read() as session:
            data = session.execute(
                select(Case.data).where(Case.kind == "orphan_payment")
            ).scalar_one()
    (orphan,) = _cases(played, "orphan_payment")
    assert (orphan["state"], orphan["queue"]) == ("match_proposed", "ar_specialist")
    assert played["emails"] == []
    assert data["evidence"] == [
        "payer email dnaa.reyes@acme.example is a typo of dana.reyes@acme.example (Acme Corp, "
        f"NetSuite customer {data['proposed_customer']})"
    ]


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
        # Its fees, as Stripe withheld them: its deposit's fee line.
        assert deposited.deposit is not None
        (fee_line,) = [line for line in deposited.deposit.lines if line.type == "fee"]
        assert deposited.fees == -fee_line.amount > 0
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
        # Waiting on the books, the investigation sees the payment recorded the next time it
        # looks (after Monday's run), or at once when she asks it to.
        waited = report(world)
        world.worker.router.decide_now(orphan["id"], "user:priya", {"reason": "recorded"})
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
    assert [c["state"] for c in _cases(waited, "orphan_payment")] == ["awaiting_cardholder"]
    assert [c["state"] for c in _cases(after, "orphan_payment")] == ["resolved"]
    assert after["ledger"]["verified"] is True


def test_an_orphan_recorded_from_its_invoice_by_a_later_morning_closes_its_case(
    tmp_path: Path,
) -> None:
    """The connector missed Acme's payment and has not yet given its NetSuite invoice the Stripe
    invoice id: Friday's morning finds the payment an orphan, and its case proposes the match
    for the AR specialist to approve. The connector catches up at noon; Monday's morning records
    the payment from the invoice and deposits the payout. The case sees the payment recorded
    after Monday's run, closes, and withdraws the match nobody needs to approve now."""
    document = json.loads((CASH / "clean_payout.json").read_text())
    for happening in document["happenings"]:
        if happening.get("customer") == "acme" and happening["type"] == "payment":
            happening["recorded_in_netsuite"] = False
    document["until"] = "2026-12-08T18:00:00-05:00"
    with World(parse(document), tmp_path) as world:
        books = world.netsuite.books
        unsynced: dict[int, str] = {}

        def not_yet_synced() -> None:
            with books.write() as db:
                for row in db.execute(
                    'SELECT id, custbody_stripe_invoice_id FROM "transaction" '
                    "WHERE custbody_stripe_invoice_id = 'in_acme_1'"
                ).fetchall():
                    unsynced[row[0]] = row[1]
                    db.execute(
                        'UPDATE "transaction" SET custbody_stripe_invoice_id = NULL WHERE id = ?',
                        (row[0],),
                    )

        def synced() -> None:
            with books.write() as db:
                for invoice, stripe_id in unsynced.items():
                    db.execute(
                        'UPDATE "transaction" SET custbody_stripe_invoice_id = ? WHERE id = ?',
                        (stripe_id, invoice),
                    )

        world.later += [
            Later(datetime(2026, 12, 1, 18, tzinfo=NEW_YORK), "not synced", not_yet_synced),
            Later(datetime(2026, 12, 4, 12, tzinfo=NEW_YORK), "synced", synced),
        ]
        played = Run(world).play()

    assert unsynced  # the invoice was there without its Stripe id until noon on Friday
    (orphan,) = _cases(played, "orphan_payment")
    assert (orphan["state"], orphan["queue"]) == ("resolved", None)
    assert orphan["closed_at"] == "2026-12-07T09:00:00-05:00"  # an hour after Monday's run
    stale, recorded = _actions(played, "netsuite.customer_payment.create")
    assert (stale["status"], recorded["status"]) == ("cancelled", "applied")
    assert stale["error"].startswith("cancelled: NetSuite records the payment (customer payment")
    (deposit,) = _actions(played, "netsuite.deposit.create")
    assert deposit["status"] == "applied"
    assert played["emails"] == []


def test_an_orphan_found_again_after_its_recorded_payment_was_voided_is_investigated_again(
    tmp_path: Path,
) -> None:
    """examples/cash/orphan_match_applied.json: Friday's orphan is matched and its payment
    recorded. At noon someone voids that payment in NetSuite; Monday's morning finds the payment
    an orphan again. That is a new finding: the case opens again, proposes the match anew (the
    sandbox approves it), and Tuesday's morning deposits the payout."""
    document = json.loads((CASH / "orphan_match_applied.json").read_text())
    document["until"] = "2026-12-08T18:00:00-05:00"
    with World(parse(document), tmp_path) as world:
        books = world.netsuite.books
        voided: list[str] = []

        def voided_by_hand() -> None:
            for payment in books.customer_payments():
                if payment.amount == 42_000:
                    books.void_customer_payment(payment.id)
                    voided.append(payment.id)

        world.later.append(
            Later(datetime(2026, 12, 4, 12, tzinfo=NEW_YORK), "voided", voided_by_hand)
        )
        played = Run(world).play()
        with world.runtime.db.read() as session:
            (case_id,) = session.execute(
                select(Case.id).where(Case.kind == "orphan_payment")
            ).scalars()
            explanations = [
                str(d.explanation)
                for d in session.execute(
                    select(Decision).where(Decision.case_id == case_id).order_by(Decision.id)
                ).scalars()
            ]

    first, again = _actions(played, "revline.orphan.flag")
    assert again["params"]["voided"] == voided
    assert (first["at"], again["at"]) == ("2026-12-04T08:00:00-05:00", "2026-12-07T08:00:00-05:00")
    matched, rematched = _actions(played, "netsuite.customer_payment.create")
    assert (matched["status"], rematched["status"]) == ("applied", "applied")
    (orphan,) = _cases(played, "orphan_payment")
    assert orphan["state"] == "resolved"
    assert any(e.startswith("the payment is an orphan again") for e in explanations)
    (deposit,) = _actions(played, "netsuite.deposit.create")
    assert (deposit["status"], deposit["at"]) == ("applied", "2026-12-08T08:00:00-05:00")
    assert played["emails"] == []


def test_a_payment_keyed_by_hand_without_its_charge_id_is_matched_by_its_invoice(
    tmp_path: Path,
) -> None:
    """The connector misses Acme's payment; the AR specialist records it that afternoon on its
    NetSuite invoice, by hand, without the Stripe charge id. The morning's run finds it by the
    invoice's Stripe id: nothing is orphaned and the payout is deposited."""
    happenings = json.loads((CASH / "clean_payout.json").read_text())["happenings"]
    happenings[1]["recorded_in_netsuite"] = False
    with World(_example("clean_payout", happenings=happenings), tmp_path) as world:
        books = world.netsuite.books
        _meanwhile(
            world,
            1,
            15,
            "Acme's payment keyed by hand",
            lambda: books.record_customer_payment(world.invoices["in_acme_1"]),
        )
        played = Run(world).play()
        with world.runtime.db.read() as session:
            day = payouts_of(session, date(2026, 12, 4))
        keyed = next(p for p in books.customer_payments() if p.stripe_charge_id is None)

    assert _cases(played, "orphan_payment") == []
    (deposit,) = _actions(played, "netsuite.deposit.create")
    assert (deposit["status"], deposit["at"]) == ("applied", "2026-12-04T08:00:00-05:00")
    payment_lines = [line for line in deposit["params"]["lines"] if line["type"] == "payment"]
    assert (keyed.id, 1_250_000) in [(line["reference"], line["amount"]) for line in payment_lines]
    (payout,) = day.payouts
    assert payout.status == "deposit_proposed"
    assert {(t.status, t.tier) for t in payout.transactions} == {
        ("matched", "exact_charge_id"),
        ("matched", "exact_invoice_id"),
    }
    assert played["ledger"]["verified"] is True


def _portal_payment(world: World, amount: int) -> None:
    """Acme pays by card in the billing portal, no Stripe invoice behind it."""
    world.stripe.state.orphan_payment(
        "billing@acme.example", amount, via="portal", customer_id=world.customers["acme"]["stripe"]
    )


def _keyed_by_hand(world: World, invoice_amount: int, paid: int) -> None:
    """The AR specialist raises the invoice in NetSuite and records the payment by hand: no
    Stripe invoice id on the invoice, no charge id on the payment."""
    books = world.netsuite.books
    invoice = books.add_invoice(
        world.customers["acme"]["netsuite"], invoice_amount, number="INV-2026-1360"
    )
    books.record_customer_payment(invoice, amount=paid)


def test_a_payment_recorded_without_any_stripe_id_is_matched_by_tolerance(
    tmp_path: Path,
) -> None:
    """Same Stripe customer (per the mapping on the NetSuite customer), amount and day: the
    tolerance tier matches the payment the simulators produced without a charge id."""
    with World(_example("clean_payout", happenings=[_PAYOUT]), tmp_path) as world:
        _meanwhile(world, 1, 12, "Acme pays in the portal", lambda: _portal_payment(world, 42_000))
        _meanwhile(world, 1, 15, "keyed by hand", lambda: _keyed_by_hand(world, 42_000, 42_000))
        played = Run(world).play()
        with world.runtime.db.read() as session:
            day = payouts_of(session, date(2026, 12, 4))

    assert _cases(played, "orphan_payment") == []
    (deposit,) = _actions(played, "netsuite.deposit.create")
    assert deposit["status"] == "applied"
    (payout,) = day.payouts
    ((match),) = payout.transactions
    assert (payout.status, match.status, match.tier) == ("deposit_proposed", "matched", "tolerance")
    assert played["ledger"]["verified"] is True


def test_a_deposit_that_cannot_tie_opens_a_variance_case_until_the_payout_is_deposited(
    tmp_path: Path,
) -> None:
    """Matched within a drift of 1.00 to a payment keyed 0.50 short, the payout cannot tie:
    nothing is posted and a variance case opens for the billing analyst. She books the deposit
    by hand; the case finds it the next working morning and is resolved."""
    scenario = _example(
        "clean_payout",
        happenings=[_PAYOUT],
        policy={"match_amount_drift": 100},
        until="2026-12-07T18:00:00-05:00",
    )
    with World(scenario, tmp_path) as world:
        books = world.netsuite.books
        _meanwhile(world, 1, 12, "Acme pays in the portal", lambda: _portal_payment(world, 42_000))
        _meanwhile(world, 1, 15, "keyed by hand", lambda: _keyed_by_hand(world, 42_000, 41_950))

        def deposit_by_hand() -> None:
            (stripe_payout,) = world.stripe.state.newest_first("payout")
            (payment,) = books.customer_payments()
            account = {
                number: int(row["id"])
                for number in ("6700-8", "6710")
                if (row := books.row("SELECT id FROM account WHERE acctnumber = ?", (number,)))
            }
            books.create_deposit(
                bank_account=books.account_id("Bank"),
                payments=[(int(payment.id), None)],
                other=[(account["6710"], Decimal("0.50"), "keyed 0.50 short")],
                cashback=[(account["6700-8"], Decimal("12.48"), "Stripe fees")],
                fields={"custbody_stripe_payout_id": stripe_payout["id"]},
            )

        _meanwhile(world, 4, 12, "the billing analyst deposits by hand", deposit_by_hand)
        played = Run(world).play()
        with world.runtime.db.read() as session:
            thursday = payouts_of(session, date(2026, 12, 4))
            monday = payouts_of(session, date(2026, 12, 7))

    assert _actions(played, "netsuite.deposit.create") == []  # Revline posted nothing
    (flag,) = _actions(played, "revline.payout_variance.flag")
    assert (flag["params"]["variance"], flag["params"]["lines_total"]) == (50, 40_702)
    (variance,) = _cases(played, "payout_variance")
    assert variance["subject"] == flag["subject"] == thursday.payouts[0].payout
    assert variance["opened_at"] == "2026-12-04T08:00:00-05:00"
    (held,) = thursday.payouts
    assert (held.status, held.variance, held.deposit) == ("variance", 50, None)
    assert held.variance_case is not None and held.variance_case.case_id == variance["id"]
    # Monday's run finds the deposit booked by hand; the case found it an hour later.
    assert [p.status for p in monday.payouts] == ["already_deposited"]
    assert (variance["state"], variance["queue"], variance["closed_at"]) == (
        "resolved",
        None,
        "2026-12-07T09:00:00-05:00",
    )
    assert played["ledger"]["verified"] is True


def test_a_variance_corrected_in_part_is_flagged_again_and_other_payouts_are_deposited(
    tmp_path: Path,
) -> None:
    """Acme pays 420.00 in the portal and the AR specialist keys it by hand 0.50 short: its
    payout cannot tie and Thursday's run opens its variance case. That afternoon the billing
    analyst corrects the payment in part, 0.20 short still. Friday's run deposits Bluefin's
    payout, which arrived on Thursday, and flags Acme's again with the new figures, which its
    case shows. She corrects the rest on Friday; Monday's run deposits Acme's payout and the
    case is resolved an hour later."""
    bluefin = {
        "at": "2026-12-01T14:00:00-05:00",
        "type": "payment",
        "customer": "bluefin",
        "invoice": "in_bluefin_1",
        "invoice_number": "INV-2026-1188",
        "amount": 180_000,
    }
    acme_payout = {"at": "2026-12-01T13:00:00-05:00", "type": "payout"}
    scenario = _example(
        "clean_payout",
        happenings=[acme_payout, bluefin, _PAYOUT],
        policy={"match_amount_drift": 100},
        until="2026-12-07T18:00:00-05:00",
    )
    with World(scenario, tmp_path) as world:
        _meanwhile(world, 1, 12, "Acme pays in the portal", lambda: _portal_payment(world, 42_000))
        _meanwhile(world, 1, 15, "keyed by hand", lambda: _keyed_by_hand(world, 42_000, 41_950))
        _meanwhile(world, 3, 15, "corrected in part", lambda: _corrected(world, 41_980))
        _meanwhile(world, 4, 15, "corrected", lambda: _corrected(world, 42_000))
        played = Run(world).play()
        with world.runtime.db.read() as session:
            friday = payouts_of(session, date(2026, 12, 4))
            monday = payouts_of(session, date(2026, 12, 7))
            case = session.execute(select(Case).where(Case.kind == "payout_variance")).scalar_one()
            told = list(
                session.execute(
                    select(Decision.explanation)
                    .where(Decision.case_id == case.id)
                    .order_by(Decision.at, Decision.id)
                ).scalars()
            )
            figures = case.data["variance"]

    flags = _actions(played, "revline.payout_variance.flag")
    assert [(f["at"], f["params"]["variance"]) for f in flags] == [
        ("2026-12-03T08:00:00-05:00", 50),
        ("2026-12-04T08:00:00-05:00", 20),
    ]
    acme, bluefin_payout = friday.payouts
    assert {f["subject"] for f in flags} == {acme.payout}
    # Friday: one payout's variance does not keep the other from its deposit.
    assert (acme.status, acme.variance, bluefin_payout.status) == (
        "variance",
        20,
        "deposit_proposed",
    )
    assert bluefin_payout.deposit is not None and bluefin_payout.deposit.status == "applied"
    assert acme.variance_case is not None and acme.variance_case.case_id == case.id
    assert figures["variance"] == 20  # the case shows the latest figures
    assert told[1].endswith(
        "$0.20 short of the payout; nothing was posted "
        "(the run before found them $0.50 short of the payout)"
    )
    # Monday: the books tie, Acme's payout is deposited and its case resolved.
    assert [p.status for p in monday.payouts] == ["deposit_proposed", "already_deposited"]
    deposits = _actions(played, "netsuite.deposit.create")
    assert [(d["at"], d["subject"], d["status"]) for d in deposits] == [
        ("2026-12-04T08:00:00-05:00", bluefin_payout.payout, "applied"),
        ("2026-12-07T08:00:00-05:00", acme.payout, "applied"),
    ]
    (variance,) = _cases(played, "payout_variance")
    assert (variance["state"], variance["closed_at"]) == ("resolved", "2026-12-07T09:00:00-05:00")
    assert played["ledger"]["verified"] is True


def _corrected(world: World, amount: int) -> None:
    """The billing analyst corrects the amount of the payment keyed by hand. NetSuite lets her
    edit it; the simulated books have no edit, so the record's total is changed in place."""
    books = world.netsuite.books
    (keyed,) = [p for p in books.customer_payments() if p.stripe_charge_id is None]
    with books.write() as db:
        db.execute(
            'UPDATE "transaction" SET foreigntotal = ? WHERE id = ?',
            (books.major(amount, keyed.currency), int(keyed.id)),
        )


def test_a_held_deposit_composed_again_with_other_lines_is_superseded_not_a_conflict(
    tmp_path: Path,
) -> None:
    """Acme pays 420.00 in the portal and the AR specialist keys it by hand. The controller
    presses the emergency stop on Thursday evening, so Friday's run proposes the payout's
    deposit and it is held. Friday morning she voids the payment she keyed and keys it again
    with the Stripe charge id; the billing analyst reruns the morning. The rerun composes the
    deposit again with the new payment: a new deposit for the payout, which cancels the held
    one (before, the same key with other lines was a conflict that rolled the rerun back). Once
    the stop is lifted, NetSuite books one deposit, with the payment as it now stands."""
    scenario = _example(
        "clean_payout",
        happenings=[
            _PAYOUT,
            {"at": "2026-12-04T11:00:00-05:00", "type": "payout_rerun", "date": "2026-12-04"},
        ],
    )
    with World(scenario, tmp_path) as world:
        runtime = world.runtime

        def keyed_again() -> None:
            books = world.netsuite.books
            (keyed,) = [p for p in books.customer_payments() if p.stripe_charge_id is None]
            books.void_customer_payment(keyed.id)
            (charge,) = world.stripe.state.newest_first("charge")
            (invoice,) = [i for i in books.invoices() if i.number == "INV-2026-1360"]
            books.record_customer_payment(invoice.id, amount=42_000, stripe_charge_id=charge["id"])

        _meanwhile(world, 1, 12, "Acme pays in the portal", lambda: _portal_payment(world, 42_000))
        _meanwhile(world, 1, 15, "keyed by hand", lambda: _keyed_by_hand(world, 42_000, 42_000))
        _meanwhile(world, 3, 17, "the emergency stop", lambda: press(runtime, stop=True))
        _meanwhile(world, 4, 10, "voided and keyed again", keyed_again)
        _meanwhile(world, 4, 12, "the stop lifted", lambda: press(runtime, stop=False))
        played = Run(world).play()
        with world.runtime.db.read() as session:
            (payout,) = payouts_of(session, date(2026, 12, 4)).payouts
        (booked,) = world.netsuite.books.deposits()
        rekeyed = next(p for p in world.netsuite.books.customer_payments() if p.stripe_charge_id)

    held, latest = _actions(played, "netsuite.deposit.create")
    assert held["status"] == "cancelled"
    assert held["params"]["lines"][0]["reference"] != rekeyed.id
    assert (latest["status"], latest["at"]) == ("applied", "2026-12-04T12:00:00-05:00")
    assert latest["params"]["lines"][0] == {
        "type": "payment",
        "amount": 42_000,
        "reference": rekeyed.id,
    }
    assert [line.payment_id for line in booked.lines if line.sublist == "payment"] == [rekeyed.id]
    assert latest["result"]["deposit"] == booked.id
    # The day shows the deposit that was posted.
    assert payout.status == "deposit_proposed"
    assert payout.deposit is not None
    assert (payout.deposit.status, payout.deposit.netsuite_deposit) == ("applied", booked.id)
    assert played["ledger"]["verified"] is True


def test_a_payout_shadowed_before_going_live_is_deposited_by_the_first_live_run(
    tmp_path: Path,
) -> None:
    """The team runs the payout reconciliation in shadow mode: Friday's run records the deposit
    it would post and posts nothing. The controller switches the playbook live at ten and the
    billing analyst reruns the morning at eleven: the deposit is posted then, once."""
    scenario = _example(
        "clean_payout",
        mode="shadow",
        happenings=[
            *json.loads((CASH / "clean_payout.json").read_text())["happenings"],
            {"at": "2026-12-04T11:00:00-05:00", "type": "payout_rerun", "date": "2026-12-04"},
        ],
    )
    with World(scenario, tmp_path) as world:
        runtime = world.runtime

        def live() -> None:
            with runtime.db.write() as session:
                controls.set_mode(
                    session,
                    runtime.ledger,
                    playbook="payout_reconciliation",
                    mode="live",
                    actor="user:maya",
                    now=runtime.clock.now(),
                    settings=runtime.settings,
                )

        _meanwhile(world, 4, 10, "the playbook goes live", live)
        played = Run(world).play()
        deposits = world.netsuite.books.deposits()

    (deposit,) = _actions(played, "netsuite.deposit.create")
    assert (deposit["status"], deposit["at"]) == ("applied", "2026-12-04T11:00:00-05:00")
    (booked,) = deposits
    assert booked.total == deposit["params"]["amount"]
    assert played["ledger"]["verified"] is True


def test_an_orphan_paid_from_an_address_exactly_on_file_is_matched_and_applied(
    tmp_path: Path,
) -> None:
    """The payer's email is Acme's AP contact's, exactly: the strongest evidence. The match to
    Acme's open invoice is proposed, the AR specialist approves it ("approve": "all"), and the
    payout follows."""
    happenings = json.loads((CASH / "orphan_match_applied.json").read_text())["happenings"]
    happenings[0]["email"] = "dana.reyes@acme.example"
    with World(_example("orphan_match_applied", happenings=happenings), tmp_path) as world:
        played = Run(world).play()
        with world.runtime.db.read() as session:
            investigation = session.execute(
                select(Case).where(Case.kind == "orphan_payment")
            ).scalar_one()
            evidence = investigation.data["evidence"]
        recorded = {p.stripe_charge_id: p.date for p in world.netsuite.books.customer_payments()}

    assert evidence[0].startswith(
        "payer email dana.reyes@acme.example is on file as dana.reyes@acme.example (Acme Corp"
    )
    (orphan,) = _cases(played, "orphan_payment")
    assert (orphan["state"], orphan["queue"]) == ("resolved", None)
    (apply,) = _actions(played, "netsuite.customer_payment.create")
    assert apply["status"] == "applied"
    # Recorded on the day Dana paid, as the connector would have, not on the day it was applied.
    paid_on = date.fromisoformat(apply["params"]["date"])
    assert recorded[apply["params"]["charge"]] == paid_on
    assert paid_on < date.fromisoformat(apply["at"][:10])
    (deposit,) = _actions(played, "netsuite.deposit.create")
    assert deposit["status"] == "applied"


_PAYOUT = {"at": "2026-12-02T06:00:00-05:00", "type": "payout"}


@pytest.mark.parametrize("name", sorted(p.stem for p in CASH.glob("*.json")))
def test_every_cash_example_runs_and_verifies(name: str, tmp_path: Path) -> None:
    assert _play(name, tmp_path)["ledger"]["verified"] is True


def test_a_payment_revline_recorded_and_a_person_voided_is_recorded_again(
    tmp_path: Path,
) -> None:
    """The connector misses Acme's payment and an orphan pays 420.00 on the same payout.
    Friday's run records Acme's payment from its invoice and holds the payout for the orphan.
    At noon the AR specialist voids the payment Revline recorded (she took it for one she was
    about to key). A voided payment records nothing: Monday's run records the charge again,
    under a key of its own, so it is not taken for done."""
    missing = json.loads((CASH / "payment_missing_in_netsuite.json").read_text())
    orphan = json.loads((CASH / "payout_with_orphan.json").read_text())
    bluefin, acme, payout = missing["happenings"]
    scenario = parse(
        {
            **missing,
            "until": "2026-12-07T18:00:00-05:00",
            "happenings": [bluefin, acme, orphan["happenings"][1], payout],
        }
    )
    with World(scenario, tmp_path) as world:
        books = world.netsuite.books
        voided: list[str] = []

        def void_acme() -> None:
            (recorded,) = [p for p in books.customer_payments() if p.amount == 1_250_000]
            books.void_customer_payment(recorded.id)
            voided.append(recorded.id)

        _meanwhile(world, 4, 12, "Acme's payment voided", void_acme)
        played = Run(world).play()
        live = [
            p
            for p in books.customer_payments()
            if p.amount == 1_250_000 and books.transaction(p.id)["voided"] == "F"
        ]

    friday, monday = _actions(played, "netsuite.customer_payment.create")
    assert (friday["at"], friday["status"]) == ("2026-12-04T08:00:00-05:00", "applied")
    assert (monday["at"], monday["status"]) == ("2026-12-07T08:00:00-05:00", "applied")
    assert monday["subject"] == friday["subject"]
    assert monday["result"]["payment"] != voided[0]
    (payment,) = live
    assert payment.id == monday["result"]["payment"]
