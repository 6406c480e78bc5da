"""A payout made by hand in the Stripe Dashboard (docs/playbooks/cash.md, "Manual payouts"):
Stripe lists no balance transactions for it, so the morning run hands it to the billing analyst
to deposit by hand, and the month-end tie-out walks it as money that left the balance. Played
through the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from revline.db.models import Case, Decision
from revline.playbooks.cash import close_report
from revline.playbooks.cash.payout_day import payouts_of
from revline.sandbox.runner import Run
from revline.sandbox.scenario import Scenario, parse
from revline.sandbox.world import Later, World

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"
NEW_YORK = ZoneInfo("America/New_York")
# Bluefin's 1,800.00 and Acme's 12,500.00 less Stripe's fees (2.9 % + 30¢ on each).
FEES = 5_250 + 36_280
BALANCE = 180_000 + 1_250_000 - FEES


def _clean_payout(**changes: Any) -> Scenario:
    document = json.loads((CASH / "clean_payout.json").read_text())
    return parse({**document, **changes})


def _happenings() -> list[dict[str, Any]]:
    """``clean_payout.json``'s happenings: Bluefin's payment, Acme's, and the payout."""
    happenings: list[dict[str, Any]] = json.loads((CASH / "clean_payout.json").read_text())[
        "happenings"
    ]
    return happenings


def _actions(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in report["actions"] if a["kind"] == kind]


def test_a_manual_payout_is_handed_to_the_billing_analyst_to_deposit_by_hand(
    tmp_path: Path,
) -> None:
    """The controller pays the balance out by hand on Wednesday morning; it reaches the bank on
    Thursday. Friday's run cannot compose its deposit — Stripe does not say what a manual
    payout settled — so it posts nothing and opens the payout's variance case, saying so. The
    billing analyst books the deposit by hand at noon; Monday's run finds it, and the case is
    resolved an hour later."""
    document = json.loads((CASH / "clean_payout.json").read_text())
    *payments, payout = document["happenings"]
    scenario = _clean_payout(
        happenings=[*payments, {**payout, "manual_amount": BALANCE}],
        until="2026-12-07T18:00:00-05:00",
    )
    with World(scenario, tmp_path) as world:
        books = world.netsuite.books

        def deposit_by_hand() -> None:
            (manual,) = world.stripe.state.newest_first("payout")
            fees = books.row("SELECT id FROM account WHERE acctnumber = ?", ("6700-8",))
            assert fees is not None
            books.create_deposit(
                bank_account=books.account_id("Bank"),
                payments=[(int(p.id), None) for p in books.customer_payments()],
                other=[],
                cashback=[(int(fees["id"]), Decimal(FEES) / 100, "Stripe fees")],
                fields={"custbody_stripe_payout_id": manual["id"]},
            )

        world.later.append(
            Later(
                datetime(2026, 12, 4, 12, tzinfo=NEW_YORK),
                "the billing analyst deposits by hand",
                deposit_by_hand,
            )
        )
        played = Run(world).play()
        with world.runtime.db.read() as session:
            friday = payouts_of(session, date(2026, 12, 4))
            monday = payouts_of(session, date(2026, 12, 7))

    assert _actions(played, "netsuite.deposit.create") == []
    (flag,) = _actions(played, "revline.payout_variance.flag")
    assert flag["at"] == "2026-12-04T08:00:00-05:00"
    assert flag["params"]["manual"] is True
    assert flag["params"]["amount"] == BALANCE
    (case,) = [c for c in played["cases"] if c["kind"] == "payout_variance"]
    (held,) = friday.payouts
    assert (held.status, held.amount, held.deposit) == ("manual_payout", BALANCE, None)
    assert held.variance_case is not None and held.variance_case.case_id == case["id"]
    assert [p.status for p in monday.payouts] == ["already_deposited"]
    assert (case["state"], case["closed_at"]) == ("resolved", "2026-12-07T09:00:00-05:00")
    assert played["ledger"]["verified"] is True


def test_the_morning_says_why_a_manual_payout_waits_for_a_person(tmp_path: Path) -> None:
    document = json.loads((CASH / "clean_payout.json").read_text())
    *payments, payout = document["happenings"]
    scenario = _clean_payout(happenings=[*payments, {**payout, "manual_amount": 1_000_000}])
    with World(scenario, tmp_path) as world:
        played = Run(world).play()
        with world.runtime.db.read() as session:
            (held,) = payouts_of(session, date(2026, 12, 4)).payouts
            (told,) = session.execute(
                select(Decision.explanation)
                .join(Case, Decision.case_id == Case.id)
                .where(Case.kind == "payout_variance")
            ).scalars()
    (case,) = [c for c in played["cases"] if c["kind"] == "payout_variance"]
    assert case["state"] == "open" and case["queue"] == "billing_analyst"
    assert held.status == "manual_payout"
    assert told == (
        f"payout {held.payout} of $10,000.00 (arrived 2026-12-03) was made by hand in Stripe, "
        "which does not say what a manual payout settled: deposit it by hand in NetSuite with "
        "the payout id in custbody_stripe_payout_id; nothing was posted"
    )


def test_a_manual_payout_in_transit_at_month_end_is_walked_as_money_that_left_the_balance(
    tmp_path: Path,
) -> None:
    """Bluefin and Acme pay in the last week of December; on the 31st the controller pays
    $10,000.00 out by hand, reaching the bank in January. At month end $3,884.70 is still in
    Stripe's balance and $10,000.00 in transit; the fees on what the balance holds are a timing
    difference, and December ties."""
    document = json.loads((CASH / "clean_payout.json").read_text())
    bluefin, acme, payout = document["happenings"]
    scenario = _clean_payout(
        start="2026-12-28T07:00:00-05:00",
        until="2027-01-06T12:00:00-05:00",
        approve="all",
        happenings=[
            {**bluefin, "at": "2026-12-28T10:00:00-05:00", "invoice": "in_bluefin_dec"},
            {**acme, "at": "2026-12-29T11:00:00-05:00", "invoice": "in_acme_dec"},
            {**payout, "at": "2026-12-31T06:00:00-05:00", "manual_amount": 1_000_000},
        ],
    )
    with World(scenario, tmp_path) as world:
        Run(world).play()
        (manual,) = world.stripe.state.newest_first("payout")
        with world.runtime.db.read() as session:
            close = close_report.load(
                session, "2026-12", world.runtime.settings.policy.max_manual_retries
            )

    tieout = close.tieout
    assert tieout.balance_not_paid_out == BALANCE - 1_000_000
    assert [(p.payout, p.amount) for p in tieout.payouts_in_transit] == [(manual["id"], 1_000_000)]
    assert [(i.kind.value, i.amount) for i in tieout.items] == [("fees_not_booked", FEES)]
    assert tieout.undeposited_funds == 180_000 + 1_250_000
    assert tieout.variance == 0
    assert close.state == "signed_off"


def _deposit_by_hand(world: World, *more: tuple[str, int, str]) -> None:
    """The billing analyst books the manual payout's deposit: every payment waiting in
    Undeposited Funds, less Stripe's fees on their own line and ``more`` cash-back lines (GL
    account number, minor units, memo)."""
    books = world.netsuite.books
    (manual,) = [p for p in world.stripe.state.newest_first("payout") if not p["automatic"]]
    cashback: list[tuple[int, Decimal, str | None]] = []
    for number, amount, memo in (("6700-8", FEES, "Stripe fees"), *more):
        account = books.row("SELECT id FROM account WHERE acctnumber = ?", (number,))
        assert account is not None
        cashback.append((int(account["id"]), Decimal(amount) / 100, memo))
    books.create_deposit(
        bank_account=books.account_id("Bank"),
        payments=[(int(p.id), None) for p in books.customer_payments() if p.undeposited],
        other=[],
        cashback=cashback,
        fields={"custbody_stripe_payout_id": manual["id"]},
    )


# What a person does by hand in a scenario: when, what, and the doing of it in the world.
ByHand = tuple[datetime, str, Callable[[World], None]]


def _december(
    world_dir: Path, start: str, happenings: list[dict[str, Any]], *by_hand: ByHand
) -> close_report.CloseReport:
    """December's close as it stands on 6 January, after ``happenings`` from ``start`` (every
    approval given) and what people did ``by_hand``."""
    scenario = _clean_payout(
        start=start, until="2027-01-06T12:00:00-05:00", approve="all", happenings=happenings
    )
    with World(scenario, world_dir) as world:
        world.later += [Later(at, what, partial(done, world)) for at, what, done in by_hand]
        Run(world).play()
        with world.runtime.db.read() as session:
            return close_report.load(
                session, "2026-12", world.runtime.settings.policy.max_manual_retries
            )


def _paid_out_by_hand(
    world_dir: Path,
    paid: tuple[str, str],
    payout_at: str,
    deposit_at: datetime,
    amount: int = BALANCE,
) -> close_report.CloseReport:
    """Bluefin and Acme pay at ``paid``; the controller pays ``amount`` (the whole balance) out
    by hand at ``payout_at`` and the billing analyst deposits both payments by hand at
    ``deposit_at``."""
    bluefin, acme, payout = _happenings()
    return _december(
        world_dir,
        datetime.fromisoformat(paid[0]).replace(hour=7).isoformat(),
        [
            {**bluefin, "at": paid[0], "invoice": "in_bluefin"},
            {**acme, "at": paid[1], "invoice": "in_acme"},
            {**payout, "at": payout_at, "manual_amount": amount},
        ],
        (deposit_at, "the billing analyst deposits by hand", _deposit_by_hand),
    )


def test_a_manual_payout_deposited_by_hand_by_month_end_paid_out_the_payments_on_its_deposit(
    tmp_path: Path,
) -> None:
    """The controller pays the whole balance out by hand on 29 December and the billing analyst
    deposits it by hand on the 30th, with Stripe's fees on their own line. The payments on
    that deposit are what the payout paid out, fees and all: nothing is left to itemise and
    December ties."""
    close = _paid_out_by_hand(
        tmp_path,
        ("2026-12-28T10:00:00-05:00", "2026-12-28T11:00:00-05:00"),
        "2026-12-29T06:00:00-05:00",
        datetime(2026, 12, 30, 12, tzinfo=NEW_YORK),
    )
    tieout = close.tieout
    assert (tieout.balance_not_paid_out, tieout.undeposited_funds) == (0, 0)
    assert (tieout.items, tieout.variance, close.state) == ([], 0, "signed_off")


def test_a_manual_payout_of_money_collected_before_the_look_back_is_not_walked_again(
    tmp_path: Path,
) -> None:
    """An account on a manual schedule: the customers pay on 29 October, the controller pays it
    out by hand on 2 November and it is deposited by hand on the 3rd. December's walk reads
    movements from 31 October: it sees the payout but not the October payments, and the
    payout, deposited, takes nothing off the balance. Nothing happened in December; it ties."""
    close = _paid_out_by_hand(
        tmp_path,
        ("2026-10-29T10:00:00-04:00", "2026-10-29T11:00:00-04:00"),
        "2026-11-02T06:00:00-05:00",
        datetime(2026, 11, 3, 12, tzinfo=NEW_YORK),
    )
    tieout = close.tieout
    assert (tieout.balance_not_paid_out, tieout.undeposited_funds) == (0, 0)
    assert (tieout.items, tieout.variance, close.state) == ([], 0, "signed_off")


def test_money_a_manual_schedule_leaves_in_the_balance_longer_than_a_month_is_walked(
    tmp_path: Path,
) -> None:
    """An account on a manual schedule: Bluefin and Acme pay on 15 October and nothing has been
    paid out by the end of December. Stripe's balance at month end holds both payments, less
    fees. Reading movements from 31 October, the walk places none of it, so it reads from 31
    August and finds them: the balance is walked to Undeposited Funds, the fees a timing
    difference, and December ties."""
    bluefin, acme, _payout = _happenings()
    close = _december(
        tmp_path,
        "2026-10-15T07:00:00-04:00",
        [
            {**bluefin, "at": "2026-10-15T10:00:00-04:00", "invoice": "in_bluefin"},
            {**acme, "at": "2026-10-15T11:00:00-04:00", "invoice": "in_acme"},
        ],
    )
    tieout = close.tieout
    assert (tieout.balance_not_paid_out, tieout.not_placed) == (BALANCE, 0)
    assert tieout.walked_from == date(2026, 8, 31)
    assert [(i.kind.value, i.amount) for i in tieout.items] == [("fees_not_booked", FEES)]
    assert tieout.undeposited_funds == 180_000 + 1_250_000
    assert (tieout.variance, close.state) == (0, "signed_off")


def test_a_manual_payout_deposited_for_more_than_it_took_does_not_tie(tmp_path: Path) -> None:
    """The controller pays $10,000.00 out by hand on 29 December; the billing analyst deposits
    it by hand on the 30th with both payments on the deposit, $13,884.70 net of fees. NetSuite
    has moved all of it to the bank; Stripe still holds $3,884.70. The walk places no movement
    in the balance, so the difference is shown as not placed, and December does not tie."""
    close = _paid_out_by_hand(
        tmp_path,
        ("2026-12-28T10:00:00-05:00", "2026-12-28T11:00:00-05:00"),
        "2026-12-29T06:00:00-05:00",
        datetime(2026, 12, 30, 12, tzinfo=NEW_YORK),
        amount=1_000_000,
    )
    tieout = close.tieout
    held_back = BALANCE - 1_000_000
    assert (tieout.balance_not_paid_out, tieout.not_placed) == (held_back, held_back)
    assert tieout.walked_from == date(2025, 11, 30)
    assert (tieout.items, tieout.undeposited_funds) == ([], 0)
    assert (tieout.variance, tieout.ties) == (-held_back, False)
    assert close.state == "variance" and close.variance_case is not None
    summary = dict(close_report.walk(close))
    assert summary["of which not placed among the movements walked from 2025-11-30"] == held_back


def test_a_refund_a_hand_deposit_names_was_paid_out_with_the_manual_payout(
    tmp_path: Path,
) -> None:
    """Bluefin and Acme pay on 28 December and Acme is refunded $200.00 that afternoon. The
    controller pays the whole balance out by hand on the 29th; on the 30th the billing analyst
    deposits it by hand: both payments, Stripe's fees on their line, and the refund on its own
    line naming the Stripe refund, as Revline's deposits do. The refund went out with the
    payout: nothing is left to itemise and December ties."""
    bluefin, acme, payout = _happenings()

    def deposit_by_hand(world: World) -> None:
        (refund,) = world.stripe.state.newest_first("refund")
        _deposit_by_hand(world, ("4090", 20_000, f"Acme refund {refund['id']}"))

    close = _december(
        tmp_path,
        "2026-12-28T07:00:00-05:00",
        [
            {**bluefin, "at": "2026-12-28T10:00:00-05:00", "invoice": "in_bluefin"},
            {**acme, "at": "2026-12-28T11:00:00-05:00", "invoice": "in_acme"},
            {
                "at": "2026-12-28T15:00:00-05:00",
                "type": "refund",
                "customer": "acme",
                "invoice": "in_acme",
                "amount": 20_000,
            },
            {**payout, "at": "2026-12-29T06:00:00-05:00", "manual_amount": BALANCE - 20_000},
        ],
        (datetime(2026, 12, 30, 12, tzinfo=NEW_YORK), "the analyst deposits", deposit_by_hand),
    )
    tieout = close.tieout
    assert (tieout.balance_not_paid_out, tieout.not_placed, tieout.undeposited_funds) == (0, 0, 0)
    assert (tieout.items, tieout.variance, close.state) == ([], 0, "signed_off")


def _returned(world: World) -> None:
    """The bank returns the first payout."""
    stripe = world.stripe.state
    stripe.fail_payout(stripe.newest_first("payout")[-1]["id"])


def _book_the_return_and_the_second_deposit(world: World) -> None:
    """The billing analyst books the first payout's return (a journal from the bank to Stripe
    clearing) and the second payout's deposit, whose one line takes Stripe clearing back,
    naming the returned payout."""
    books = world.netsuite.books
    first, second = world.stripe.state.newest_first("payout")[::-1]
    clearing = int(books.add_account("1195", "Stripe Clearing", "OthCurrAsset"))
    books.add_journal_entry(
        [("1195", BALANCE), ("1000", -BALANCE)], memo=f"payout {first['id']} returned"
    )
    books.create_deposit(
        bank_account=books.account_id("Bank"),
        payments=[],
        other=[(clearing, Decimal(BALANCE) / 100, f"returned payout {first['id']} again")],
        cashback=[],
        fields={"custbody_stripe_payout_id": second["id"]},
    )


def _returned_after_its_hand_deposit(
    world_dir: Path, paid_out_again: bool
) -> close_report.CloseReport:
    """The controller pays the balance out by hand on 28 December; the billing analyst deposits
    it by hand on the 29th; the bank returns it on the 30th. With ``paid_out_again``, the
    controller pays it out by hand again that afternoon (it reaches the bank on the 31st), and
    at noon on the 31st the analyst books the return and the second payout's deposit."""
    bluefin, acme, payout = _happenings()
    again = [{**payout, "at": "2026-12-30T14:00:00-05:00", "manual_amount": BALANCE}]
    booked: list[ByHand] = [
        (
            datetime(2026, 12, 31, 12, tzinfo=NEW_YORK),
            "the billing analyst books the return and the second deposit",
            _book_the_return_and_the_second_deposit,
        )
    ]
    return _december(
        world_dir,
        "2026-12-28T07:00:00-05:00",
        [
            {**bluefin, "at": "2026-12-28T08:00:00-05:00", "invoice": "in_bluefin"},
            {**acme, "at": "2026-12-28T09:00:00-05:00", "invoice": "in_acme"},
            {**payout, "at": "2026-12-28T10:00:00-05:00", "manual_amount": BALANCE},
            *(again if paid_out_again else []),
        ],
        (datetime(2026, 12, 29, 12, tzinfo=NEW_YORK), "the first deposit", _deposit_by_hand),
        (datetime(2026, 12, 30, 10, tzinfo=NEW_YORK), "the bank returns it", _returned),
        *(booked if paid_out_again else []),
    )


def test_a_manual_payout_returned_after_its_deposit_is_an_item_while_stripe_holds_it(
    tmp_path: Path,
) -> None:
    """Nobody has paid the returned money out again by month end: Stripe holds it, its own
    movement walked as the deposit's, and an item says NetSuite's books still have it in the
    bank. December ties, with that item for a person to book."""
    tieout = _returned_after_its_hand_deposit(tmp_path, paid_out_again=False).tieout
    assert (tieout.balance_not_paid_out, tieout.not_placed, tieout.undeposited_funds) == (
        BALANCE,
        0,
        0,
    )
    assert [(i.kind.value, i.amount) for i in tieout.items] == [
        ("payout_returned_after_deposit", -BALANCE)
    ]
    assert tieout.variance == 0


def test_a_manual_payout_returned_after_its_deposit_and_paid_out_again_by_hand_ties(
    tmp_path: Path,
) -> None:
    """The second payout's deposit names the returned payout: the money went out again with
    it, no item is left for the return, and December ties."""
    close = _returned_after_its_hand_deposit(tmp_path, paid_out_again=True)
    tieout = close.tieout
    assert (tieout.balance_not_paid_out, tieout.not_placed, tieout.undeposited_funds) == (0, 0, 0)
    assert tieout.payouts_in_transit == []
    assert (tieout.items, tieout.variance, close.state) == ([], 0, "signed_off")


def test_a_returned_manual_payout_is_paid_out_again_by_hand(tmp_path: Path) -> None:
    """The controller pays $10,000.00 out by hand on Wednesday at 06:00; the bank returns it at
    noon and she pays it out by hand again at 14:00. The returned payout's case says the money
    is back in the balance and that what pays it out again is deposited by hand (no automatic
    payout carries its payments); Friday's run hands the second to the billing analyst."""
    document = json.loads((CASH / "clean_payout.json").read_text())
    *payments, payout = document["happenings"]
    scenario = _clean_payout(
        happenings=[
            *payments,
            {**payout, "at": "2026-12-02T06:00:00-05:00", "manual_amount": 1_000_000},
            {**payout, "at": "2026-12-02T14:00:00-05:00", "manual_amount": 1_000_000},
        ]
    )
    with World(scenario, tmp_path) as world:
        state = world.stripe.state

        def returned() -> None:
            first = state.newest_first("payout")[-1]
            state.fail_payout(first["id"])

        world.later.append(
            Later(datetime(2026, 12, 2, 12, tzinfo=NEW_YORK), "the bank returns it", returned)
        )
        Run(world).play()
        first, second = reversed(state.newest_first("payout"))
        with world.runtime.db.read() as session:
            (held,) = payouts_of(session, date(2026, 12, 4)).payouts
            (told,) = session.execute(
                select(Decision.explanation)
                .join(Case, Decision.case_id == Case.id)
                .where(Case.subject == f"payout:{first['id']}")
            ).scalars()

    assert (held.payout, held.status) == (second["id"], "manual_payout")
    assert told == (
        f"payout {first['id']} of $10,000.00, made by hand, was returned by the bank before it "
        "was deposited: its money is back in the Stripe balance, and whatever pays it out "
        "again is deposited by hand"
    )
