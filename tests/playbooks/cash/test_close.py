"""Month-end tie-out, the close's decisions and its working-day schedule, on records built here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from sqlalchemy import select

from revline.clock import SimulatedClock, WorkingCalendar
from revline.config import Company, Policy
from revline.core.cases import ActionView, CaseView
from revline.core.inbox import EventView
from revline.core.playbook import Decision, Enrichment, Facts, Trigger, Withdrawal
from revline.core.scheduler import SCHEDULE_SOURCE, Scheduler
from revline.db.engine import Database
from revline.db.models import Event
from revline.money import Money
from revline.playbooks.cash.close import MonthEndClose, State, WorkingDayOfMonth
from revline.playbooks.cash.close_actions import (
    CLEAR_VARIANCE,
    FLAG_VARIANCE,
    NO_LONGER_TIES,
    SIGN_OFF,
    VARIANCE_FLAGGED,
    register,
)
from revline.playbooks.cash.close_variance import CloseVariance
from revline.playbooks.cash.flags import FINDING_SOURCE
from revline.playbooks.cash.tieout import (
    ClosePeriod,
    InvalidMonth,
    ItemKind,
    PayoutAtMonthEnd,
    ReturnedAfterDeposit,
    TieOutBooks,
    figures,
    tie_out,
)
from revline.providers.base import ActionRequest, Handler, Handlers, ProviderError
from revline.providers.netsuite.records import CustomerPayment
from revline.providers.stripe.records import BalanceTransaction, Payout
from tests.support.cases import case_view
from tests.support.netsuite import customer_payment
from tests.support.stripe_records import balance_transaction, payments_balance

CALENDAR = WorkingCalendar("America/New_York", "US")
DECEMBER = ClosePeriod.parse("2026-12")
DEC_30 = datetime(2026, 12, 30, 15, tzinfo=UTC)
POLICY = Policy()


def txn(
    ref: str, kind: str, amount: int, fee: int = 0, at: datetime = DEC_30
) -> BalanceTransaction:
    return balance_transaction(f"txn_{ref}", kind, amount, at, fee=fee, source=ref)


def payout(
    ref: str, members: list[BalanceTransaction], arrived: date, deposited: date | None
) -> PayoutAtMonthEnd:
    record = Payout(
        id=ref,
        amount=sum(t.net for t in members),
        currency="usd",
        arrival_date=datetime.combine(arrived, time(12), UTC),
        created=DEC_30,
        status="paid",
        automatic=True,
        reconciliation_status=None,
        balance_transaction=None,
        method="standard",
        failure_code=None,
        failure_message=None,
    )
    own = txn(ref, "payout", -record.amount)
    return PayoutAtMonthEnd(record, (*members, own), arrived, deposited)


def books(
    transactions: list[BalanceTransaction],
    payouts: list[PayoutAtMonthEnd],
    payments: list[CustomerPayment],
    undeposited: int,
) -> TieOutBooks:
    return TieOutBooks(
        period=DECEMBER,
        currency="usd",
        timezone="America/New_York",
        transactions=tuple(transactions + [t for p in payouts for t in p.transactions]),
        payouts=tuple(payouts),
        recorded={p.stripe_charge_id or "": (p,) for p in payments},
        undeposited_funds=undeposited,
        held=(),
    )


# One payment still in the Stripe balance (fee 3.20), one on a payout in transit (fee 52.50).
IN_BALANCE = txn("ch_globex", "charge", 10_000, 320)
ON_PAYOUT = txn("ch_bluefin", "charge", 180_000, 5_250)
IN_TRANSIT = payout("po_transit", [ON_PAYOUT], date(2027, 1, 1), None)
RECORDED = [customer_payment("ch_globex", 10_000), customer_payment("ch_bluefin", 180_000)]


@pytest.mark.parametrize(
    ("case", "undeposited", "variance", "ties"),
    [
        ("ties to the cent", 190_000, 0, True),
        ("a $12.40 variance", 191_240, 1_240, False),
        ("exactly the $5 threshold", 190_500, 500, True),
        ("a cent over the threshold", 189_499, -501, False),
    ],
)
def test_the_walk_and_its_variance(case: str, undeposited: int, variance: int, ties: bool) -> None:
    result = tie_out(books([IN_BALANCE], [IN_TRANSIT], RECORDED, undeposited), 500)
    assert result.balance_not_paid_out == 10_000 - 320
    assert result.in_transit_total == 180_000 - 5_250
    assert result.stripe_in_transit == 10_000 - 320 + 180_000 - 5_250
    assert [(i.kind, i.reference, i.amount) for i in result.items] == [
        (ItemKind.FEES_NOT_BOOKED, "balance", 320),
        (ItemKind.FEES_NOT_BOOKED, "po_transit", 5_250),
    ]
    assert result.expected_undeposited_funds == 190_000
    assert (result.variance, result.ties) == (variance, ties), case


def test_each_kind_of_reconciling_item() -> None:
    deposited = payout(
        "po_done", [txn("ch_old", "charge", 50_000, 1_480)], date(2026, 12, 29), date(2026, 12, 29)
    )
    late = payout(
        "po_late",
        [txn("ch_acme", "charge", 1_250_000, 36_280), txn("re_acme", "refund", -20_000)],
        date(2026, 12, 31),
        None,
    )
    orphan = txn("ch_orphan", "charge", 42_000, 1_248)
    next_month = txn("ch_jan", "charge", 7_000, 233)
    dispute = txn("dp_1", "adjustment", -1_500)
    payments = [
        customer_payment("ch_old", 50_000),
        customer_payment("ch_acme", 1_250_000),
        customer_payment("ch_jan", 7_000, on=date(2027, 1, 2)),
    ]
    # po_back reached the bank and was deposited on the 30th; the bank returned it on the 31st
    # and its 300.00 is in Stripe's balance again, while NetSuite has it in the bank.
    back = txn("po_back", "payout_failure", 30_000, at=datetime(2026, 12, 31, 17, tzinfo=UTC))
    returned = ReturnedAfterDeposit(
        "po_back", 30_000, back.id, date(2026, 12, 31), ("5009",), date(2026, 12, 30)
    )
    # Undeposited Funds holds Acme's payment, waiting for the late payout's deposit.
    result = tie_out(
        replace(
            books([orphan, next_month, dispute, back], [deposited, late], payments, 1_250_000),
            returned_after_deposit=(returned,),
        ),
        500,
    )
    by_kind = {(i.kind, i.reference): i.amount for i in result.items}
    assert by_kind == {
        (ItemKind.PAYOUT_NOT_DEPOSITED, "po_late"): 1_250_000 - 36_280 - 20_000,
        (ItemKind.PAYOUT_RETURNED_AFTER_DEPOSIT, "po_back"): -30_000,
        (ItemKind.PAYMENT_NOT_RECORDED, "ch_orphan"): -42_000,
        (ItemKind.PAYMENT_NOT_RECORDED, "ch_jan"): -7_000,
        (ItemKind.FEES_NOT_BOOKED, "balance"): 1_248 + 233,
        (ItemKind.FEES_NOT_BOOKED, "po_late"): 36_280,
        (ItemKind.REFUND_NOT_BOOKED, "re_acme"): 20_000,
        (ItemKind.ADJUSTMENT_NOT_BOOKED, "dp_1"): 1_500,
    }
    assert result.payouts_in_transit == []
    # The returned 300.00 is in the balance, once: not as an adjustment as well.
    assert result.balance_not_paid_out == (42_000 - 1_248) + (7_000 - 233) - 1_500 + 30_000
    assert result.variance == 0
    recorded_late = next(i for i in result.items if i.reference == "ch_jan")
    assert "after month end" in recorded_late.description
    assert [kind for kind, _, _ in result.subtotals()] == list(ItemKind)
    # The JSON a case keeps reads back to the same walk.
    assert figures(result.model_dump(mode="json")) == result


def test_stripe_s_own_fees_on_the_balance_are_fees_not_booked() -> None:
    """A Radar fee Stripe debited from the balance as a movement of its own is a fee, booked
    on the fee line of the deposit that pays it out: not an adjustment."""
    radar = balance_transaction("txn_radar", "stripe_fee", -200, DEC_30, source=None)
    result = tie_out(books([txn("ch_1", "charge", 10_000, 320), radar], [], [], 0), 500)
    assert {(i.kind, i.reference): i.amount for i in result.items} == {
        (ItemKind.PAYMENT_NOT_RECORDED, "ch_1"): -10_000,
        (ItemKind.FEES_NOT_BOOKED, "balance"): 320 + 200,
    }
    assert (result.balance_not_paid_out, result.variance) == (10_000 - 320 - 200, 0)


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-1",
        "December",
        "2026-12-01",
        "",
        "2026-12\n",
        "\u0662\u0660\u0662\u0666-\u0661\u0662",
    ],
)
def test_a_malformed_month_is_refused_with_what_is_wrong(text: str) -> None:
    with pytest.raises(InvalidMonth, match="YYYY-MM"):
        ClosePeriod.parse(text)


@pytest.mark.parametrize("text", ["0000-12", "9999-12"])
def test_a_month_outside_the_calendar_is_refused_naming_it(text: str) -> None:
    with pytest.raises(InvalidMonth, match=f"month '{text}' is out of range"):
        ClosePeriod.parse(text)


# -- the schedule --------------------------------------------------------------------------

SCHEDULE = WorkingDayOfMonth("month_end_close", time(9), nth=2)


@pytest.mark.parametrize(
    ("month", "second_working_day", "why"),
    [
        ("2026-05", date(2026, 5, 4), "the 1st is a Friday: the 2nd working day is Monday"),
        ("2027-01", date(2027, 1, 5), "the 1st is a Friday and New Year's Day"),
        ("2025-09", date(2025, 9, 3), "the 1st is Labor Day"),
        ("2026-12", date(2026, 12, 2), "an ordinary Tuesday start"),
    ],
)
def test_the_close_opens_on_the_second_working_day(
    month: str, second_working_day: date, why: str
) -> None:
    first = ClosePeriod.parse(month).first_day
    due = SCHEDULE.next_due(CALENDAR, CALENDAR.at_local(first, time(0)))
    assert due == CALENDAR.at_local(second_working_day, time(9)), why
    on_the_day = SCHEDULE.due_dates(CALENDAR, due, after=None)
    assert on_the_day == [second_working_day]
    assert SCHEDULE.due_dates(CALENDAR, due.replace(hour=due.hour - 1), after=None) == []


def test_a_close_day_past_a_short_month_s_working_days_is_its_last_working_day() -> None:
    """``close_working_day`` may be up to 23; US February 2027 has 19 working days (Presidents'
    Day): the close runs on its last, Friday the 26th, and the other schedules go on."""
    late = WorkingDayOfMonth("month_end_close", time(9), nth=20)
    assert late.next_due(CALENDAR, CALENDAR.at_local(date(2027, 2, 3), time(10))) == (
        CALENDAR.at_local(date(2027, 2, 26), time(9))
    )
    assert late.due_dates(CALENDAR, CALENDAR.at_local(date(2027, 2, 26), time(10)), None) == [
        date(2027, 2, 26)
    ]


def test_a_close_missed_over_a_long_outage_is_run_when_the_worker_is_back(db: Database) -> None:
    """The worker stops on Monday 4 January and is back on Monday the 11th: December's close,
    due on Tuesday the 5th, runs then (late), not in February."""
    scheduler = Scheduler(db, CALENDAR, daily=[SCHEDULE])
    scheduler.tick(CALENDAR.at_local(date(2026, 12, 2), time(10)))  # November's
    scheduler.tick(CALENDAR.at_local(date(2027, 1, 4), time(10)))
    scheduler.tick(CALENDAR.at_local(date(2027, 1, 11), time(10)))
    with db.read() as session:
        emitted = sorted(session.execute(select(Event.external_id)).scalars())
    assert emitted == ["month_end_close:2026-12-02", "month_end_close:2027-01-05"]


def test_a_schedule_event_opens_the_close_of_the_previous_month() -> None:
    event = EventView(
        id=1,
        source=SCHEDULE_SOURCE,
        external_id="month_end_close:2027-01-05",
        type="schedule.month_end_close",
        occurred_at=DEC_30,
        received_at=DEC_30,
        payload={"business_date": "2027-01-05"},
    )
    ref = MonthEndClose().case_for(event)
    assert ref is not None and ref.subject == "2026-12"


# -- decisions -----------------------------------------------------------------------------

NOW = datetime(2027, 1, 5, 14, tzinfo=UTC)


def action(kind: str, status: str, n: int = 1) -> ActionView:
    return ActionView(
        id=f"act_{kind}_{n}",
        kind=kind,
        subject="2026-12",
        idempotency_key=f"month_end_close:{kind}:2026-12:{n}",
        status=status,
        params={},
        result=None,
        error=None,
        created_at=NOW,
        applied_at=None,
    )


def close_case(
    state: str, actions: tuple[ActionView, ...] = (), data: Mapping[str, Any] | None = None
) -> CaseView:
    return case_view(
        "month_end_close",
        "2026-12",
        state,
        NOW,
        id="cas_close",
        state_version=2,
        data=data,
        actions=actions,
    )


def decide(case: CaseView, undeposited: int, trigger: Trigger | None = None) -> Decision:
    facts = Facts(
        trigger or Trigger("timer", NOW),
        {
            "books": books([IN_BALANCE], [IN_TRANSIT], RECORDED, undeposited),
            "calendar": CALENDAR,
            "locale": "en_US",
        },
    )
    return MonthEndClose().decide(case, facts, POLICY, NOW)


def test_a_close_that_ties_proposes_a_sign_off_only_an_analyst_may_approve() -> None:
    decision = decide(close_case(State.OPEN), 190_000)
    (sign_off,) = decision.actions
    assert (sign_off.kind, sign_off.subject, sign_off.requires_role) == (
        SIGN_OFF,
        "2026-12",
        "fpa_analyst",
    )
    assert sign_off.params["variance"] == 0
    assert decision.state == State.AWAITING_SIGN_OFF
    # The next check: the following working day at close_time (09:00 New York).
    assert decision.next_action_at == CALENDAR.at_local(date(2027, 1, 6), time(9))


def test_a_variance_above_the_threshold_blocks_and_flags_a_variance_case() -> None:
    decision = decide(close_case(State.OPEN), 191_240)
    (flag,) = decision.actions
    assert flag.kind == FLAG_VARIANCE
    assert flag.params["variance"] == 1_240
    assert (decision.state, decision.queue) == (State.VARIANCE, "fpa_analyst")
    assert "$12.40" in decision.explanation


def test_money_in_stripes_balance_the_walk_cannot_place_is_named_in_the_blocked_close() -> None:
    """Stripe reports $3,884.70 more at month end than the movements walked from 30 November
    2025 place: it counts in the balance, on a line of its own, and the blocked close says so."""
    walked = books([IN_BALANCE], [IN_TRANSIT], RECORDED, 190_000)
    facts = Facts(
        Trigger("timer", NOW),
        {
            "books": replace(
                walked, reported_balance=10_000 - 320 + 388_470, walked_from=date(2025, 11, 30)
            ),
            "calendar": CALENDAR,
            "locale": "en_US",
        },
    )
    decision = MonthEndClose().decide(close_case(State.OPEN), facts, POLICY, NOW)
    walk = figures(decision.data["tieout"])
    assert (walk.balance_not_paid_out, walk.not_placed) == (10_000 - 320 + 388_470, 388_470)
    assert walk.variance == -388_470
    assert decision.state == State.VARIANCE
    assert decision.explanation == (
        "2026-12 does not tie: a variance of -$3,884.70 is above the $5.00 threshold; $3,884.70 "
        "of Stripe's balance is not placed among the movements walked from 2025-11-30: an older "
        "movement, or a hand deposit that booked other than its manual payout took"
    )


def test_the_same_variance_found_again_is_not_flagged_twice() -> None:
    flagged = close_case(
        State.VARIANCE, (action(FLAG_VARIANCE, "applied"),), {"flagged_variance": 1_240}
    )
    decision = decide(flagged, 191_240)
    assert decision.actions == ()
    assert decision.state == State.VARIANCE


def test_a_later_variance_cancels_the_pending_sign_off() -> None:
    waiting = close_case(State.AWAITING_SIGN_OFF, (action(SIGN_OFF, "awaiting_approval"),))
    decision = decide(waiting, 191_240)
    assert decision.cancel_pending is not None and "$12.40" in decision.cancel_pending
    assert [a.kind for a in decision.actions] == [FLAG_VARIANCE]


def test_corrected_books_clear_the_variance_case_and_propose_a_second_sign_off() -> None:
    blocked = close_case(
        State.VARIANCE,
        (action(SIGN_OFF, "cancelled"), action(FLAG_VARIANCE, "applied")),
        {"flagged_variance": 1_240},
    )
    decision = decide(blocked, 190_000)
    clear, sign_off = decision.actions
    assert (clear.kind, clear.params) == (
        CLEAR_VARIANCE,
        {"month": "2026-12", "currency": "USD", "variance": 0},
    )
    assert (sign_off.kind, sign_off.attempt) == (SIGN_OFF, 2)


def explains(variance: int, note: str = "receipt keyed twice") -> Trigger:
    return Trigger(
        "manual", NOW, detail={"actor": "user:jonas", "explanation": note, "variance": variance}
    )


BLOCKED = close_case(
    State.VARIANCE, (action(FLAG_VARIANCE, "applied"),), {"flagged_variance": 1_240}
)


def test_an_explained_variance_is_recorded_but_the_close_stays_blocked() -> None:
    decision = decide(BLOCKED, 191_240, explains(1_240))
    assert decision.state == State.VARIANCE
    assert decision.actions == ()  # no clearance, no sign-off: the books still do not tie
    assert "only books that tie unblock the sign-off" in decision.explanation
    (kept,) = decision.data["explanations"]
    assert kept == {
        "variance": 1_240,
        "note": "receipt keyed twice",
        "by": "user:jonas",
        "at": NOW.isoformat().replace("+00:00", "Z"),
    }


def test_an_explanation_of_another_amount_is_refused_and_not_customer_payment() -> None:
    decision = decide(BLOCKED, 191_240, explains(1_000, "a bank fee"))
    assert decision.state == State.VARIANCE
    assert "was for $10.00, not this variance, and is not recorded" in decision.explanation
    assert decision.data["explanations"] == []


def test_explanations_stay_on_record_once_the_corrected_books_tie() -> None:
    explained = decide(BLOCKED, 191_240, explains(1_240))
    later = close_case(State.VARIANCE, BLOCKED.actions, {**BLOCKED.data, **explained.data})
    # The next morning's check, the hand-keyed receipt reversed: the books tie.
    decision = decide(later, 190_000)
    assert decision.state == State.AWAITING_SIGN_OFF
    assert [a.kind for a in decision.actions] == [CLEAR_VARIANCE, SIGN_OFF]
    assert decision.data["explanations"] == explained.data["explanations"]


def outcome(
    status: str, error: str | None = None, result: Mapping[str, Any] | None = None
) -> Trigger:
    event = EventView(
        id=9,
        source="revline",
        external_id=f"act_1:{status}",
        type=f"action.{status}",
        occurred_at=NOW,
        received_at=NOW,
        payload={"kind": SIGN_OFF, "status": status, "error": error, "result": result},
    )
    return Trigger("action", NOW, event)


REFUSED = "2026-12 no longer ties: a variance of $12.40 is above the $5.00 threshold"


def test_a_sign_off_refused_at_execution_blocks_the_close_again() -> None:
    waiting = close_case(State.AWAITING_SIGN_OFF, (action(SIGN_OFF, "failed"),))
    decision = decide(waiting, 191_240, outcome("failed", REFUSED))
    assert decision.state == State.VARIANCE
    (flag,) = decision.actions
    assert (flag.kind, flag.params["variance"]) == (FLAG_VARIANCE, 1_240)
    assert f"the sign-off was refused when carried out ({REFUSED})" in decision.explanation


def test_books_that_tie_again_after_a_refused_sign_off_propose_a_new_one() -> None:
    waiting = close_case(State.AWAITING_SIGN_OFF, (action(SIGN_OFF, "failed"),))
    decision = decide(waiting, 190_000, outcome("failed", REFUSED))
    (sign_off,) = decision.actions
    assert (sign_off.kind, sign_off.attempt, decision.state) == (
        SIGN_OFF,
        2,
        State.AWAITING_SIGN_OFF,
    )


def test_the_applied_sign_off_signs_the_month_off_on_the_books_it_read() -> None:
    case = close_case(State.AWAITING_SIGN_OFF)
    signed = {"tieout": {"month": "2026-12", "undeposited_funds": 190_300}}
    facts = Facts(outcome("applied", result=signed))
    decision = MonthEndClose().decide(case, facts, POLICY, NOW)
    assert (decision.state, decision.next_action_at) == (State.SIGNED_OFF, None)
    assert decision.data == {"tieout": signed["tieout"]}
    # Any other sign-off of the month still waiting no longer stands.
    assert decision.withdraw == (Withdrawal(SIGN_OFF, "2026-12", "2026-12 is signed off"),)
    # One carried out before the sign-off kept what it read leaves the last check's walk.
    before = MonthEndClose().decide(case, Facts(outcome("applied", result={})), POLICY, NOW)
    assert (before.state, before.data) == (State.SIGNED_OFF, {})


# -- the sign-off, carried out -------------------------------------------------------------


class Books:
    """Stripe and NetSuite as the tie-out reads them: the walk above, NetSuite's balance set
    by the test (the books moving between the proposal and the approval)."""

    def __init__(self, undeposited: int, elsewhere: tuple[BalanceTransaction, ...] = ()) -> None:
        self.undeposited = undeposited
        self.elsewhere = elsewhere  # movements of the account's other balances

    def list_balance_transactions(self, **_: datetime) -> list[BalanceTransaction]:
        return [IN_BALANCE, *IN_TRANSIT.transactions, *self.elsewhere]

    def balance_at(self, instant: datetime, currency: str) -> int:
        return payments_balance(self.list_balance_transactions(), currency)

    def list_payouts(self, **_: datetime) -> list[Payout]:
        return [IN_TRANSIT.payout]

    def payout_transactions(self, payout_id: str) -> tuple[BalanceTransaction, ...]:
        assert payout_id == IN_TRANSIT.payout.id
        return IN_TRANSIT.transactions

    def customer_payments_dated(self, start: date, end: date) -> list[CustomerPayment]:
        return RECORDED

    def undeposited_funds_by_currency(self, base: str, as_of: date) -> dict[str, Money]:
        assert as_of == DECEMBER.last_day
        return {base: Money(self.undeposited, base)}

    def held_revenue_plans(self) -> list[Any]:
        return []


def sign_off_handler(books: Books, db: Database) -> Handler:
    handlers = Handlers()
    enrichment = Enrichment(
        SimulatedClock(NOW), CALENDAR, Company(), {"stripe": books, "netsuite": books}
    )
    # The sign-off reads the dunning cases behind the holds; only the variance findings write.
    register(handlers, db, SimulatedClock(NOW), books=enrichment, policy=POLICY)
    handler = handlers.get(SIGN_OFF)
    assert handler is not None
    return handler


PROPOSED = ActionRequest(
    action_id="act_sign_off",
    kind=SIGN_OFF,
    subject="2026-12",
    params={"month": "2026-12", "currency": "USD", "variance": 0},
    idempotency_key="month_end_close:revline.close.sign_off:2026-12:1",
    attempt=1,
)


def test_the_sign_off_signs_a_month_that_still_ties_and_keeps_what_it_read(db: Database) -> None:
    result = sign_off_handler(Books(190_300), db)(PROPOSED)
    assert result["month"] == "2026-12"
    assert (result["variance"], result["undeposited_funds"]) == (300, 190_300)
    # The walk as signed, and the holds (none in these books) as they stood: the signed report.
    signed = figures(result["tieout"])
    assert (signed.month, signed.undeposited_funds, signed.variance) == ("2026-12", 190_300, 300)
    assert result["held_recognition"] == []


def test_a_movement_of_the_issuing_balance_is_not_walked(db: Database) -> None:
    """$2,500.00 topped up the Issuing balance in December: not the balance Stripe pays out,
    so the walk is the same and the month ties as it did."""
    top_up = replace(txn("tu_issuing", "topup", 250_000), balance_type="issuing")
    result = sign_off_handler(Books(190_300, elsewhere=(top_up,)), db)(PROPOSED)
    signed = figures(result["tieout"])
    assert (signed.balance_not_paid_out, signed.not_placed) == (10_000 - 320, 0)
    assert signed.variance == 300


class TwoCurrencyBooks(Books):
    """A dollar company whose Stripe account also settles euros into a euro bank: a euro
    payout in transit at month end, its payments in Undeposited Funds (booked converted)."""

    EURO_PAYOUT = replace(IN_TRANSIT.payout, id="po_eur", currency="eur", amount=100_000)

    def list_payouts(self, **_: datetime) -> list[Payout]:
        return [*super().list_payouts(), self.EURO_PAYOUT]

    def undeposited_funds_by_currency(self, base: str, as_of: date) -> dict[str, Money]:
        return {**super().undeposited_funds_by_currency(base, as_of), "EUR": Money(108_500, base)}


def test_money_in_other_currencies_is_named_apart_not_walked(db: Database) -> None:
    """No rate ties NetSuite's converted euros to Stripe's: the dollar walk ties as before, and
    the euro payout and the euros in Undeposited Funds are named for a person."""
    result = sign_off_handler(TwoCurrencyBooks(190_300), db)(PROPOSED)
    signed = figures(result["tieout"])
    assert (signed.undeposited_funds, signed.variance) == (190_300, 300)
    assert [
        (o.reference, o.currency, o.amount, o.amount_currency) for o in signed.other_currencies
    ] == [
        ("Undeposited Funds", "EUR", 108_500, "USD"),
        ("po_eur", "EUR", 100_000, "EUR"),
    ]
    assert signed.other_currencies[1].description == (
        "Stripe payout in EUR, in transit at month end (arrives 2027-01-01)"
    )


def test_a_payment_netsuite_records_in_another_currency_is_not_netted() -> None:
    """A €100.00 charge settled into the dollar balance as $108.50; the connector recorded it
    in euros. The euros are not taken for dollars: the whole payment is an item, saying why."""
    settled = txn("ch_eu", "charge", 10_850)
    in_euros = replace(customer_payment("ch_eu", 10_000), currency="EUR")
    result = tie_out(books([settled], [], [in_euros], 0), 500)
    (unrecorded,) = [i for i in result.items if i.kind is ItemKind.PAYMENT_NOT_RECORDED]
    assert unrecorded.amount == -10_850
    assert unrecorded.description == (
        "Stripe payment of 2026-12-30: NetSuite records it in another currency (€100.00), "
        "not USD: a person converts it"
    )


def test_the_sign_off_refuses_a_month_that_no_longer_ties(db: Database) -> None:
    # Approved after someone keyed $12.40 into Undeposited Funds, dated in December.
    with pytest.raises(ProviderError) as refused:
        sign_off_handler(Books(191_240), db)(PROPOSED)
    assert refused.value.retryable is False
    assert refused.value.provider_code == NO_LONGER_TIES
    assert refused.value.message == (
        "2026-12 no longer ties: a variance of $12.40 is above the $5.00 threshold (it was "
        "$0.00 when the sign-off was proposed); nothing is signed off"
    )


def test_amounts_in_what_a_person_reads_are_in_the_company_s_locale() -> None:
    """A partly recorded payment's item, and the variance case's explanation, under de_DE."""
    paid = txn("ch_part", "charge", 10_000)
    partly = customer_payment("ch_part", 6_000)
    walked = tie_out(replace(books([paid], [], [partly], 0), locale="de_DE"), 500)
    (item,) = [i for i in walked.items if i.kind is ItemKind.PAYMENT_NOT_RECORDED]
    assert "60,00\xa0$ of it recorded in NetSuite by month end" in item.description

    flagged = EventView(
        id=1,
        source=FINDING_SOURCE,
        external_id="close_variance:2026-12:1",
        type=VARIANCE_FLAGGED,
        occurred_at=NOW,
        received_at=NOW,
        payload={"month": "2026-12", "currency": "USD", "variance": 1_240},
    )
    case = case_view("close_variance", "2026-12", "open", NOW)
    facts = Facts(Trigger("event", NOW, flagged), {"locale": "de_DE"})
    decision = CloseVariance().decide(case, facts, POLICY, NOW)
    assert decision.explanation.startswith("the 2026-12 tie-out is off by 12,40\xa0$")


def test_an_early_check_of_a_blocked_close_keeps_todays_check() -> None:
    """The December close is blocked; the analyst checks at 07:00 on Wednesday 6 January 2027,
    before the day's check: the next one is still that day's at 09:00 (``close_time``)."""
    early = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
    facts = Facts(
        Trigger("manual", early, detail={"actor": "user:jonas"}),
        {
            "books": books([IN_BALANCE], [IN_TRANSIT], RECORDED, 0),
            "calendar": CALENDAR,
            "locale": "en_US",
        },
    )
    decision = MonthEndClose().decide(BLOCKED, facts, POLICY, early)
    assert decision.state == "variance"
    assert decision.next_action_at == datetime(2027, 1, 6, 14, 0, tzinfo=UTC)
