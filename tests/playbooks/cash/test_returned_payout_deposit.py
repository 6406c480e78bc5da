"""A payout the bank returned, paid out again by a later payout: the morning's deposit of the
later payout and the month-end tie-out, on Stripe and NetSuite as the adapters read them.

Payout A settled Acme's 1,000.00 (fee 29.30) less a 200.00 refund: 770.70. The bank returned
it; Stripe put the 770.70 back on the balance (a ``payout_failure`` whose source is A) and
payout L pays it out again with Bluefin's 500.00 (fee 14.80): 1,255.90.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any

from revline.clock import SimulatedClock, WorkingCalendar
from revline.config import Company, Policy
from revline.core.inbox import EventView
from revline.core.playbook import CaseRef, Decision, Enrichment, Facts, Trigger, Withdrawal
from revline.money import Money
from revline.playbooks.cash.flags import PAYOUT_VARIANCE_FLAGGED
from revline.playbooks.cash.payout_variance import PayoutVariance
from revline.playbooks.cash.payouts import PayoutReconciliation
from revline.playbooks.cash.tieout import ClosePeriod, TieOut, gather, tie_out
from revline.providers.netsuite.records import Customer, CustomerPayment, Deposit, Invoice
from revline.providers.stripe.records import BalanceTransaction, Charge, Payout
from tests.support.cases import case_view
from tests.support.events import finding
from tests.support.netsuite import customer_payment
from tests.support.stripe_records import balance_transaction, payments_balance, succeeded_charge

POLICY = Policy()
CALENDAR = WorkingCalendar("America/New_York", "US")
DEPOSIT = "netsuite.deposit.create"
FLAG = "revline.payout_variance.flag"


def at(day: int, hour: int = 15, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def txn(
    ref: str, kind: str, amount: int, on: datetime, fee: int = 0, source: str | None = None
) -> BalanceTransaction:
    return balance_transaction(f"txn_{ref}", kind, amount, on, fee=fee, source=source or ref)


def stripe_payout(
    payout_id: str, settled: Sequence[BalanceTransaction], created: datetime, arrival: date
) -> tuple[Payout, tuple[BalanceTransaction, ...]]:
    amount = sum(t.net for t in settled)
    record = Payout(
        id=payout_id,
        amount=amount,
        currency="usd",
        arrival_date=datetime.combine(arrival, time(0), UTC),
        created=created,
        status="paid",
        automatic=True,
        reconciliation_status="completed",
        balance_transaction=f"txn_{payout_id}",
        method="standard",
        failure_code=None,
        failure_message=None,
    )
    own = txn(payout_id, "payout", -amount, created)
    return record, (*settled, own)


def ns_deposit(deposit_id: str, payout_id: str, on: date, total: int) -> Deposit:
    return Deposit(
        id=deposit_id,
        number=None,
        bank_account_number="1000",
        date=on,
        total=total,
        currency="USD",
        memo=None,
        stripe_payout_id=payout_id,
        idempotency_key=None,
        lines=(),
    )


class Books:
    """Stripe and NetSuite as the adapters read them: payouts with what they settled, the
    customer payments waiting in Undeposited Funds, the deposits booked per payout."""

    def __init__(
        self,
        payouts: Iterable[tuple[Payout, tuple[BalanceTransaction, ...]]],
        payments: Sequence[CustomerPayment],
        deposits: Sequence[Deposit] = (),
        returned: Iterable[str] = (),
        balance: Sequence[BalanceTransaction] = (),
        undeposited_funds: int = 0,
    ) -> None:
        self.payouts = {p.id: (p, t) for p, t in payouts}
        self.returned = set(returned)
        self.payments = list(payments)
        self.deposits = list(deposits)
        self.balance = list(balance)
        self.undeposited_funds = undeposited_funds
        self.read: list[str] = []  # the payouts whose balance transactions were read

    # -- Stripe ---------------------------------------------------------------------------

    def list_payouts(self, *, status: str | None = None, **_: datetime) -> list[Payout]:
        return [
            p
            for p, _ in self.payouts.values()
            if status is None or (status == "paid" and p.id not in self.returned)
        ]

    def get_payout(self, payout_id: str) -> Payout:
        payout = self.payouts[payout_id][0]
        return replace(payout, status="failed") if payout_id in self.returned else payout

    def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        self.read.append(payout_id)
        return list(self.payouts[payout_id][1])

    def get_charge(self, charge_id: str) -> Charge:
        amount = next(
            t.amount for _, of in self.payouts.values() for t in of if t.source == charge_id
        )
        return succeeded_charge(charge_id, amount, at(1), customer="cus_acme")

    def list_balance_transactions(self, **_: datetime) -> list[BalanceTransaction]:
        found = {t.id: t for _, of in self.payouts.values() for t in of}
        found.update((t.id, t) for t in self.balance)
        return list(found.values())

    def balance_at(self, instant: datetime, currency: str) -> int:
        return payments_balance(self.list_balance_transactions(), currency)

    # -- NetSuite -------------------------------------------------------------------------

    def deposits_for_payout(self, payout_id: str) -> list[Deposit]:
        return [d for d in self.deposits if d.stripe_payout_id == payout_id]

    def undeposited_payments(self) -> list[CustomerPayment]:
        return self.payments

    def customers(self, _: Iterable[str]) -> list[Customer]:
        return []

    def invoices(self, _: Iterable[str]) -> list[Invoice]:
        return []

    def invoices_by_stripe_invoice(self, _: str) -> list[Invoice]:
        return []

    def customer_invoices(self, _: list[str], since: date) -> list[Invoice]:
        return []

    def customer_payments_applied_to(self, _: Iterable[str]) -> list[CustomerPayment]:
        return []

    def customer_payments_dated(self, start: date, end: date) -> list[CustomerPayment]:
        return self.payments

    def undeposited_funds_by_currency(
        self, base: str, as_of: date | None = None
    ) -> dict[str, Money]:
        return {base: Money(self.undeposited_funds, base)}

    def held_revenue_plans(self) -> list[Any]:
        return []


# Payout A, returned by the bank, and the money it settled.
ACME = txn("ch_acme", "charge", 100_000, at(1), fee=2_930)
REFUND = txn("re_acme", "refund", -20_000, at(1, 16), source="re_acme")
PAYOUT_A = stripe_payout("po_a", [ACME, REFUND], at(2, 11), date(2026, 12, 3))
RETURNED = txn("po_a_failure", "payout_failure", 77_070, at(2, 17), source="po_a")
# Payout L pays A's money out again with Bluefin's payment.
BLUEFIN = txn("ch_bluefin", "charge", 50_000, at(2, 18), fee=1_480)
PAYOUT_L = stripe_payout("po_l", [RETURNED, BLUEFIN], at(2, 19), date(2026, 12, 3))
IN_UNDEPOSITED_FUNDS = [
    customer_payment("ch_acme", 100_000, date(2026, 12, 1)),
    customer_payment("ch_bluefin", 50_000, date(2026, 12, 2)),
]


def the_morning_of(books: Books, day: date = date(2026, 12, 4)) -> Decision:
    """Friday's payout reconciliation, as the morning run reads and decides it."""
    now = datetime.combine(day, time(13), UTC)
    enrichment = Enrichment(
        SimulatedClock(now), CALENDAR, Company(), {"stripe": books, "netsuite": books}
    )
    case = case_view("payout_reconciliation", f"payouts:{day.isoformat()}", "open", now)
    playbook = PayoutReconciliation()
    facts = playbook.enrich(case, Trigger("manual", now), enrichment)
    return playbook.decide(case, facts, POLICY, now)


def stripe_says(event_type: str, payout: str) -> tuple[CaseRef | None, Trigger]:
    """Stripe's webhook for a payout, the case it goes to and the trigger it makes."""
    event = EventView(
        id=7,
        source="stripe",
        external_id=f"evt_{payout}",
        type=event_type,
        occurred_at=at(4, 17),
        received_at=at(4, 17),
        payload={"type": event_type, "data": {"object": {"id": payout, "object": "payout"}}},
    )
    return PayoutReconciliation().case_for(event), Trigger("event", at(4, 17), event)


def on_stripes_word(books: Books, event_type: str, payout: str) -> Decision:
    ref, trigger = stripe_says(event_type, payout)
    assert ref is not None
    enrichment = Enrichment(
        SimulatedClock(at(4, 17)), CALENDAR, Company(), {"stripe": books, "netsuite": books}
    )
    case = case_view("payout_reconciliation", ref.subject, "open", at(4, 17))
    playbook = PayoutReconciliation()
    facts = playbook.enrich(case, trigger, enrichment)
    return playbook.decide(case, facts, POLICY, at(4, 17))


def lines_of(decision: Decision, kind: str) -> list[tuple[str, int, str | None]]:
    (action,) = [a for a in decision.actions if a.kind == kind]
    return [(line["type"], line["amount"], line.get("account")) for line in action.params["lines"]]


def test_the_payout_after_a_payout_returned_before_its_deposit_carries_its_movements() -> None:
    """NetSuite never deposited A: its payment still waits in Undeposited Funds. L's deposit
    moves it out beside Bluefin's, A's refund is a line of its own and A's fee joins L's on the
    fee line: the lines tie to L to the cent."""
    books = Books([PAYOUT_A, PAYOUT_L], IN_UNDEPOSITED_FUNDS, returned=["po_a"])
    decision = the_morning_of(books)

    (deposit,) = [a for a in decision.actions if a.kind == DEPOSIT]
    assert deposit.subject == "po_l"
    assert deposit.params["amount"] == PAYOUT_L[0].amount == 77_070 + 50_000 - 1_480
    assert lines_of(decision, DEPOSIT) == [
        ("payment", 100_000, None),
        ("refund", -20_000, "4090"),
        ("payment", 50_000, None),
        ("fee", -(2_930 + 1_480), "6700-8"),
    ]
    assert [a.kind for a in decision.actions] == [DEPOSIT]
    (summary,) = decision.data["payouts"]
    assert summary["status"] == "deposit_proposed"
    assert summary["returned"] == [{"payout": "po_a", "amount": 77_070, "deposits": []}]
    assert books.read == ["po_l", "po_a"]
    # A's own deposit, if one still waits (Stripe's payout.failed missed), is withdrawn.
    assert decision.withdraw == (
        Withdrawal(DEPOSIT, "po_a", "payout po_l pays its money out again"),
    )


def test_once_deposited_the_payout_that_carried_a_returned_one_shows_no_fees_of_its_own() -> None:
    """L's deposit carried A's fee beside its own (the fee line above, -4,410); once NetSuite
    holds it, A's movements are not read again: the day shows no fees rather than L's alone."""
    deposited = ns_deposit("5010", "po_l", date(2026, 12, 4), PAYOUT_L[0].amount)
    books = Books([PAYOUT_A, PAYOUT_L], [], deposits=[deposited], returned=["po_a"])
    (summary,) = the_morning_of(books, date(2026, 12, 7)).data["payouts"]
    assert (summary["status"], summary["fees"]) == ("already_deposited", None)


def test_the_payout_after_a_payout_returned_after_its_deposit_waits_for_a_person() -> None:
    """NetSuite deposited A (deposit 5004) before the bank returned it: its payment left
    Undeposited Funds, and the money L pays out again came back from the bank. Revline cannot
    book that: nothing is posted for L, and the billing analyst's variance case says why."""
    books = Books(
        [PAYOUT_A, PAYOUT_L],
        IN_UNDEPOSITED_FUNDS[1:],
        deposits=[ns_deposit("5004", "po_a", date(2026, 12, 3), 77_070)],
        returned=["po_a"],
    )
    decision = the_morning_of(books)

    assert [a.kind for a in decision.actions] == [FLAG]
    (flag,) = decision.actions
    assert flag.params["returned"] == [{"payout": "po_a", "amount": 77_070, "deposits": ["5004"]}]
    assert flag.params["variance"] == 0  # every line ties but for the returned money
    assert lines_of(decision, FLAG) == [("payment", 50_000, None), ("fee", -1_480, "6700-8")]
    (summary,) = decision.data["payouts"]
    # The billing analyst's, as the payout variance case it opens.
    assert (summary["status"], decision.state, decision.queue) == (
        "returned_payout",
        "exceptions",
        "billing_analyst",
    )
    assert "po_a" not in books.read  # its movements are not the deposit's
    assert decision.withdraw == ()  # NetSuite's deposit of A stands

    opened = PayoutVariance().decide(
        case_view("payout_variance", "po_l", "open", at(4)),
        _flagged(flag.params),
        POLICY,
        at(4),
    )
    assert (opened.state, opened.queue) == ("open", "billing_analyst")
    assert opened.explanation == (
        "payout po_l of $1,255.90 (arrived 2026-12-03) pays out again $770.70 the bank "
        "returned from payout po_a after it was deposited (NetSuite deposit 5004): that money "
        "came back from the bank, which only a person can book; book the return and this "
        "payout's deposit by hand; nothing was posted"
    )


def _flagged(params: Mapping[str, Any]) -> Facts:
    """The payout's variance case, as the morning's flag reaches it."""
    event = finding(PAYOUT_VARIANCE_FLAGGED, "flag", at(4), params)
    return Facts(Trigger("event", at(4), event), {"calendar": CALENDAR, "locale": "en_US"})


# -- the month-end tie-out -----------------------------------------------------------------

DECEMBER = ClosePeriod.parse("2026-12")


def december(books: Books) -> TieOut:
    now = datetime(2027, 1, 5, 14, tzinfo=UTC)
    enrichment = Enrichment(
        SimulatedClock(now), CALENDAR, Company(), {"stripe": books, "netsuite": books}
    )
    return tie_out(gather(enrichment, DECEMBER), POLICY.close_variance_threshold)


def test_a_returned_payout_paid_out_again_and_deposited_by_month_end_is_counted_once() -> None:
    books = Books(
        [PAYOUT_A, PAYOUT_L],
        [],
        deposits=[ns_deposit("5010", "po_l", date(2026, 12, 4), PAYOUT_L[0].amount)],
        returned=["po_a"],
    )
    walk = december(books)
    assert (walk.balance_not_paid_out, walk.payouts_in_transit, walk.items) == (0, [], [])
    assert walk.variance == 0


def test_a_returned_payout_paid_out_again_by_a_payout_in_transit_travels_with_it() -> None:
    """A returned on 30 December, L made on the 31st reaches the bank on 1 January: A's
    movements are L's, in transit, their fees and refund booked with L's deposit."""
    payout_a = stripe_payout("po_a", [ACME, REFUND], at(29), date(2026, 12, 30))
    returned = txn("po_a_failure", "payout_failure", 77_070, at(30), source="po_a")
    payout_l = stripe_payout("po_l", [returned, BLUEFIN], at(31), date(2027, 1, 1))
    books = Books(
        [payout_a, payout_l], IN_UNDEPOSITED_FUNDS, returned=["po_a"], undeposited_funds=150_000
    )
    walk = december(books)
    assert walk.balance_not_paid_out == 0
    assert [(p.payout, p.amount) for p in walk.payouts_in_transit] == [("po_l", 125_590)]
    assert sorted((i.kind.value, i.reference, i.amount) for i in walk.items) == [
        ("fees_not_booked", "po_l", 2_930 + 1_480),
        ("refund_not_booked", "re_acme", 20_000),
    ]
    assert walk.variance == 0


def test_a_returned_payout_whose_money_is_still_in_the_balance_counts_once() -> None:
    """A returned on 30 December, no payout by month end: its money is in the balance, once
    (its own movements, not the payout_failure too), and its payment in Undeposited Funds."""
    payout_a = stripe_payout("po_a", [ACME, REFUND], at(29), date(2026, 12, 30))
    returned = txn("po_a_failure", "payout_failure", 77_070, at(30), source="po_a")
    books = Books(
        [payout_a],
        IN_UNDEPOSITED_FUNDS[:1],
        returned=["po_a"],
        balance=[returned],
        undeposited_funds=100_000,
    )
    walk = december(books)
    assert walk.balance_not_paid_out == 77_070
    assert walk.payouts_in_transit == []
    assert sorted((i.kind.value, i.reference, i.amount) for i in walk.items) == [
        ("fees_not_booked", "balance", 2_930),
        ("refund_not_booked", "re_acme", 20_000),
    ]
    assert walk.variance == 0


def test_stripes_word_that_the_bank_returned_a_payout_withdraws_its_deposit() -> None:
    """Stripe says A failed: the bank returned it. Its deposit, proposed and held (by the
    emergency stop, say), must never post, since the money never reached the bank account: the
    return opens a case of its own that withdraws it at once, whichever morning proposed it."""
    ref, _ = stripe_says("payout.failed", "po_a")
    assert ref == CaseRef("payout:po_a")
    books = Books([PAYOUT_A], IN_UNDEPOSITED_FUNDS[:1], returned=["po_a"])
    decision = on_stripes_word(books, "payout.failed", "po_a")

    assert decision.withdraw == (
        Withdrawal(DEPOSIT, "po_a", "payout po_a was returned by the bank"),
    )
    assert decision.actions == ()
    assert decision.state == "reconciled"
    assert decision.explanation == (
        "payout po_a of $770.70 was returned by the bank before it was deposited: a deposit "
        "proposed for it and not yet posted is withdrawn, and the payout that pays its money out "
        "again deposits its payments"
    )
    assert decision.data["returned_payout"]["netsuite_deposits"] == []


def test_a_payout_returned_after_netsuite_deposited_it_keeps_that_deposit() -> None:
    books = Books(
        [PAYOUT_A],
        [],
        deposits=[ns_deposit("5004", "po_a", date(2026, 12, 3), 77_070)],
        returned=["po_a"],
    )
    decision = on_stripes_word(books, "payout.failed", "po_a")

    assert decision.explanation == (
        "payout po_a of $770.70 was returned by the bank after NetSuite deposit 5004 booked it; "
        "the payout that pays its money out again waits for a person to book the return"
    )
    assert decision.data["returned_payout"]["netsuite_deposits"] == ["5004"]


def test_a_payout_stripe_shows_paid_is_not_taken_for_returned() -> None:
    """Acted on as Stripe shows the payout when the case decides, not as the event said."""
    books = Books([PAYOUT_A], IN_UNDEPOSITED_FUNDS[:1])
    decision = on_stripes_word(books, "payout.failed", "po_a")

    assert decision.withdraw == ()
    assert (decision.state, decision.queue) == ("exceptions", "ar_specialist")
    assert decision.explanation.startswith(
        "Stripe shows payout po_a of $770.70 as paid, not returned: nothing is withdrawn"
    )


def test_other_payout_events_open_no_case() -> None:
    assert stripe_says("payout.paid", "po_a")[0] is None
    assert stripe_says("payout.canceled", "po_a")[0] == CaseRef("payout:po_a")
