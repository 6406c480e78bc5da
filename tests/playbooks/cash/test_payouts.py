"""Deposit composition and the morning's decision, on records built in the test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.clock import WorkingCalendar
from revline.config import Policy
from revline.core.playbook import ActionSpec, Decision, Facts, Trigger
from revline.playbooks.cash.deposit import compose
from revline.playbooks.cash.flags import DUPLICATE_FLAG, ORPHAN_FLAG, PAYOUT_VARIANCE_FLAG
from revline.playbooks.cash.payouts import (
    PayoutReconciliation,
    SettledPayout,
    Undeposited,
    payment_entries,
)
from revline.providers.netsuite.records import Customer, CustomerPayment, Invoice, InvoiceStatus
from revline.providers.stripe.records import BalanceTransaction, Charge, Payout
from revline.reconcile import Entry
from tests.support.cases import case_view
from tests.support.stripe_records import balance_transaction, succeeded_charge

AT = datetime(2026, 12, 2, 15, tzinfo=UTC)
POLICY = Policy()
NEW_YORK = WorkingCalendar("America/New_York", "US")
DEPOSIT = "netsuite.deposit.create"

# NetSuite customers with their Stripe customer ids (custentity_stripe_customer_id).
CUSTOMERS = {
    stripe_id: Customer(
        id=netsuite_id,
        entity_id=name,
        company_name=name,
        email=f"ap@{name.lower()}.example",
        stripe_customer_id=stripe_id,
        currency="USD",
        relationship_owner=None,
    )
    for stripe_id, netsuite_id, name in (
        ("cus_acme", "7", "Acme"),
        ("cus_blue", "8", "Bluefin"),
        ("cus_cole", "9", "Cole"),
    )
}


def txn(
    n: int | str, kind: str, amount: int, fee: int = 0, source: str | None = None
) -> BalanceTransaction:
    return balance_transaction(f"txn_{n}", kind, amount, AT, fee=fee, source=source or f"ch_{n}")


def charge(charge_id: str, amount: int, customer: str | None, invoice: str | None = None) -> Charge:
    return succeeded_charge(
        charge_id,
        amount,
        AT,
        customer=customer,
        billing_email=CUSTOMERS[customer].email if customer else "someone@else.example",
        billing_name=CUSTOMERS[customer].company_name if customer else None,
        invoice=invoice,
    )


def payout(
    transactions: Sequence[BalanceTransaction], amount: int | None = None, payout_id: str = "po_1"
) -> Payout:
    return Payout(
        id=payout_id,
        amount=sum(t.net for t in transactions) if amount is None else amount,
        currency="usd",
        arrival_date=AT,
        created=AT,
        status="paid",
        automatic=True,
        reconciliation_status="completed",
        balance_transaction=None,
        method="standard",
        failure_code=None,
        failure_message=None,
    )


def settled(
    transactions: Sequence[BalanceTransaction],
    charges: Sequence[Charge] = (),
    amount: int | None = None,
    payout_id: str = "po_1",
) -> SettledPayout:
    return SettledPayout(
        payout(transactions, amount, payout_id),
        tuple(transactions),
        {c.id: c for c in charges},
        False,
        date(2026, 12, 2),
    )


def ns_payment(
    n: int | str,
    amount: int,
    invoice: str = "9",
    *,
    customer: str = "7",
    charge_id: str | None = "",
) -> CustomerPayment:
    """A customer payment in Undeposited Funds; it carries ``ch_<n>`` unless told otherwise."""
    return CustomerPayment(
        id=f"50{n}",
        number=f"PYMT-{n}",
        customer_id=customer,
        amount=amount,
        currency="USD",
        undeposited=True,
        date=AT.date(),
        applied_invoices=(invoice,),
        stripe_charge_id=f"ch_{n}" if charge_id == "" else charge_id,
    )


def ns_invoice(id_: str, number: str, amount: int, on: date) -> Invoice:
    return Invoice(
        id=id_,
        number=number,
        customer_id="7",
        amount=amount,
        amount_remaining=0,
        currency="USD",
        status=InvoiceStatus.PAID_IN_FULL,
        date=on,
        stripe_invoice_id=None,
        stripe_charge_id=None,
        stripe_subscription_id=None,
        memo="Implementation fee",
    )


def undeposited(
    payments: Sequence[CustomerPayment], invoices: Sequence[Invoice] = ()
) -> Undeposited:
    return Undeposited(
        tuple(payments),
        {c.id: c for c in CUSTOMERS.values()},
        {i.id: i for i in invoices},
    )


_movements = st.lists(
    st.tuples(
        st.sampled_from(["charge", "refund", "adjustment"]),
        st.integers(1, 2_000_000),
        st.integers(0, 60_000),
    ),
    min_size=1,
    max_size=15,
)


def _transactions(movements: list[tuple[str, int, int]]) -> list[BalanceTransaction]:
    found = []
    for n, (kind, amount, fee) in enumerate(movements):
        signed = amount if kind == "charge" else -amount
        found.append(txn(n, kind, signed, fee if kind == "charge" else 0))
    return found


@settings(max_examples=200, deadline=None)
@given(movements=_movements)
def test_deposit_lines_sum_to_the_payout_and_fees_are_one_line(
    movements: list[tuple[str, int, int]],
) -> None:
    transactions = _transactions(movements)
    payments = {t.id: ns_payment(n, t.amount) for n, t in enumerate(transactions)}
    plan = compose(payout(transactions), transactions, payments, POLICY)
    assert plan.lines_total == plan.amount
    assert plan.postable
    fee_lines = [line for line in plan.lines if line.type == "fee"]
    fees = sum(t.fee for t in transactions)
    assert [-line.amount for line in fee_lines] == ([fees] if fees else [])
    assert all(line.account == "6700-8" for line in fee_lines)
    refunds = [line for line in plan.lines if line.type == "refund"]
    assert len(refunds) == sum(1 for t in transactions if t.type == "refund")


def test_a_payout_that_does_not_tie_is_not_postable() -> None:
    transactions = [txn(1, "charge", 10_000, 320)]
    plan = compose(
        payout(transactions, amount=9_000), transactions, {"txn_1": ns_payment(1, 10_000)}, POLICY
    )
    assert plan.variance == 9_000 - 9_680
    assert not plan.postable


def test_a_payment_line_moves_the_netsuite_payment_at_netsuite_s_amount() -> None:
    """NetSuite deposits whole payments: a payment recorded for 50 less than Stripe charged
    leaves the deposit 50 short of the payout, which is a variance, not a line NetSuite would
    refuse."""
    transactions = [txn(1, "charge", 10_000, 320)]
    plan = compose(payout(transactions), transactions, {"txn_1": ns_payment(1, 9_950)}, POLICY)
    assert [(line.type, line.amount, line.reference) for line in plan.lines] == [
        ("payment", 9_950, "501"),
        ("fee", -320, "Stripe fees po_1"),
    ]
    assert plan.variance == 50
    assert not plan.postable


def test_stripe_s_own_fee_movements_join_the_fee_line() -> None:
    """Stripe debits some of its fees (Billing, Radar) from the balance as movements of their
    own: they are processing fees on 6700-8 with those the charges carried, not adjustments."""
    transactions = [
        txn(1, "charge", 180_000, 5_250),
        txn(2, "stripe_fee", -1_000, source=None),
    ]
    plan = compose(payout(transactions), transactions, {"txn_1": ns_payment(1, 180_000)}, POLICY)
    assert [(line.type, line.amount, line.account) for line in plan.lines] == [
        ("payment", 180_000, None),
        ("fee", -6_250, "6700-8"),
    ]
    assert (plan.fees, plan.postable) == (6_250, True)


def _decide(
    payouts: SettledPayout | list[SettledPayout],
    payments: Sequence[CustomerPayment] | Undeposited,
    invoices: list[Invoice] | None = None,
    invoiced: dict[str, Invoice] | None = None,
    policy: Policy = POLICY,
    today: date = date(2026, 12, 3),
    alike_payments: Sequence[CustomerPayment] = (),
) -> Decision:
    case = case_view("payout_reconciliation", f"payouts:{today.isoformat()}", "open", AT)
    facts = Facts(
        Trigger("event", AT),
        {
            "business_date": today,
            "calendar": NEW_YORK,
            "locale": "en_US",
            "payouts": payouts if isinstance(payouts, list) else [payouts],
            "undeposited": payments if isinstance(payments, Undeposited) else undeposited(payments),
            "invoices": invoices or [],
            "alike_payments": list(alike_payments),
            "invoiced": invoiced or {},
        },
    )
    return PayoutReconciliation().decide(case, facts, policy, AT)


@pytest.mark.parametrize(
    ("look_back", "arrived", "morning"),
    [
        (1, date(2026, 12, 4), date(2026, 12, 7)),  # a Friday's payout on Monday
        (2, date(2026, 12, 4), date(2026, 12, 7)),
        (3, date(2026, 9, 4), date(2026, 9, 8)),  # Friday's, on the Tuesday after Labor Day
    ],
)
def test_a_short_look_back_still_takes_every_payout_since_the_last_working_morning(
    look_back: int, arrived: date, morning: date
) -> None:
    friday = settled([txn(1, "charge", 180_000, 5_250)], payout_id="po_friday")
    friday = replace(
        friday,
        payout=replace(friday.payout, arrival_date=datetime.combine(arrived, time(12), UTC)),
        arrived_on=arrived,
    )
    decision = _decide(
        friday,
        [ns_payment(1, 180_000)],
        policy=Policy(payout_lookback_days=look_back),
        today=morning,
    )
    assert [p["payout"] for p in decision.data["payouts"]] == ["po_friday"]
    assert [a.kind for a in decision.actions] == ["netsuite.deposit.create"]


def _matches(decision: Decision, index: int = 0) -> dict[str, tuple[str, str | None]]:
    summary = decision.data["payouts"][index]
    return {m["transaction"]: (m["status"], m["tier"]) for m in summary["matches"]}


def test_a_clean_payout_is_one_deposit_keyed_by_the_payout() -> None:
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "refund", -20_000, source="re_2")]
    decision = _decide(settled(transactions), [ns_payment(1, 180_000)])
    (deposit,) = decision.actions
    assert (deposit.kind, deposit.subject) == (DEPOSIT, "po_1")
    assert deposit.params["amount"] == 180_000 - 5_250 - 20_000
    assert deposit.params["lines"] == [
        {"type": "payment", "amount": 180_000, "reference": "501"},
        {"type": "refund", "amount": -20_000, "account": "4090", "reference": "re_2"},
        {"type": "fee", "amount": -5_250, "account": "6700-8", "reference": "Stripe fees po_1"},
    ]
    assert decision.state == "reconciled"


def test_an_orphan_is_flagged_and_holds_the_deposit() -> None:
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "charge", 42_000, 1_248)]
    decision = _decide(settled(transactions), [ns_payment(1, 180_000)])
    kinds = [(a.kind, a.subject) for a in decision.actions]
    assert kinds == [(ORPHAN_FLAG, "ch_2")]
    assert decision.state == "exceptions"
    (summary,) = decision.data["payouts"]
    assert summary["status"] == "orphans_pending"
    # No payment is both matched and orphaned.
    assert _matches(decision) == {
        "txn_1": ("matched", "exact_charge_id"),
        "txn_2": ("unmatched", None),
    }
    assert summary["unresolved"] == ["txn_2"]


def test_an_orphan_carried_onto_another_payout_is_the_same_flag() -> None:
    """The bank returns the payout holding an orphan; the next payout pays its money out again
    and carries the orphan's payment. Still an orphan, it is the same finding, so the same flag:
    were the payout a parameter, that morning would propose the orphan's key with other
    parameters and roll back on the conflict."""
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "charge", 42_000, 1_248)]
    flags = [
        _decide(settled(transactions, payout_id=payout), [ns_payment(1, 180_000)]).actions
        for payout in ("po_returned", "po_next")
    ]
    assert flags[0] == flags[1]
    (flag,) = flags[0]
    assert flag.kind == ORPHAN_FLAG


def test_the_same_morning_decided_twice_proposes_the_same_deposit() -> None:
    transactions = [txn(1, "charge", 180_000, 5_250)]
    first = _decide(settled(transactions), [ns_payment(1, 180_000)])
    second = _decide(settled(transactions), [ns_payment(1, 180_000)])
    assert first.actions == second.actions


def test_a_deposit_composed_with_other_lines_is_a_new_one_that_supersedes_the_other() -> None:
    """The payment keyed by hand was voided and keyed again (another NetSuite payment): the
    payout's deposit has other lines, so another key, and it replaces the one not yet posted."""
    transactions = [txn(1, "charge", 180_000, 5_250)]
    (before,) = _decide(settled(transactions), [ns_payment(1, 180_000)]).actions
    rekeyed = replace(ns_payment(1, 180_000), id="502")
    (after,) = _decide(settled(transactions), [rekeyed]).actions
    assert (before.subject, after.subject) == ("po_1", "po_1")
    assert after.params["lines"][0]["reference"] == "502"
    assert before.attempt != after.attempt
    assert before.supersedes and after.supersedes


# -- the NetSuite side as the tiers need it -------------------------------------------------------


def test_each_side_carries_what_the_tiers_compare() -> None:
    """Stripe: the charge, its Stripe invoice and customer, the payer's email and name as
    entered at payment (billing details). NetSuite: the
    charge id if it was recorded, the applied invoice's Stripe id and number, and the customer's
    Stripe id (custentity_stripe_customer_id), email and name."""
    transactions = [txn(1, "charge", 42_000, 1_248)]
    stripe = settled(transactions, [charge("ch_1", 42_000, "cus_acme", invoice="in_1")])
    (left,) = payment_entries(stripe, NEW_YORK)
    assert left == Entry(
        "txn_1",
        42_000,
        "usd",
        AT.date(),
        charge_id="ch_1",
        invoice_id="in_1",
        customer="cus_acme",
        email="ap@acme.example",
        name="Acme",
    )
    invoice = replace(
        ns_invoice("12", "INV-2026-1302", 42_000, AT.date()), stripe_invoice_id="in_1"
    )
    payment = ns_payment(1, 42_000, "12", charge_id=None)
    several = replace(ns_payment(2, 84_000, charge_id=None), applied_invoices=("12", "13"))
    right, unapplied = undeposited([payment, several], [invoice]).entries()
    assert right == Entry(
        "501",
        42_000,
        "USD",
        AT.date(),
        charge_id=None,
        invoice_id="in_1",
        customer="cus_acme",
        email="ap@acme.example",
        name="Acme",
        reference="INV-2026-1302",
    )
    # Applied to two invoices, a payment names no single Stripe invoice.
    assert (unapplied.invoice_id, unapplied.reference, unapplied.customer) == (
        None,
        None,
        "cus_acme",
    )


def test_a_payment_is_compared_on_the_business_date_it_was_made() -> None:
    """Paid at 22:30 in New York on Tuesday 1 December (03:30 UTC on the 2nd): NetSuite dates its
    customer payment the 1st, and so does the left side of the match."""
    evening = balance_transaction(
        "txn_1", "charge", 42_000, datetime(2026, 12, 2, 3, 30, tzinfo=UTC), source="ch_1"
    )
    (left,) = payment_entries(settled([evening]), NEW_YORK)
    assert left.day == date(2026, 12, 1)


def test_a_payment_recorded_without_its_charge_id_is_matched_by_tolerance_and_deposited() -> None:
    """Keyed by hand in NetSuite: no charge id, an invoice raised in NetSuite with no Stripe
    invoice id. Same customer, amount and day: the tolerance tier matches it, nothing is
    orphaned and the payout is deposited."""
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "charge", 42_000, 1_248)]
    charges = [charge("ch_1", 180_000, "cus_blue"), charge("ch_2", 42_000, "cus_acme")]
    payments = [ns_payment(1, 180_000, customer="8"), ns_payment(2, 42_000, charge_id=None)]
    decision = _decide(settled(transactions, charges), payments)
    assert _matches(decision) == {
        "txn_1": ("matched", "exact_charge_id"),
        "txn_2": ("matched", "tolerance"),
    }
    (deposit,) = decision.actions
    assert deposit.kind == DEPOSIT
    payment_lines = [line for line in deposit.params["lines"] if line["type"] == "payment"]
    assert [(line["amount"], line["reference"]) for line in payment_lines] == [
        (180_000, "501"),
        (42_000, "502"),
    ]
    assert decision.state == "reconciled"


def test_a_payment_recorded_without_its_charge_id_is_matched_by_its_invoice() -> None:
    transactions = [txn(2, "charge", 42_000, 1_248)]
    charges = [charge("ch_2", 42_000, "cus_acme", invoice="in_2")]
    invoice = replace(
        ns_invoice("12", "INV-2026-1302", 42_000, AT.date()), stripe_invoice_id="in_2"
    )
    payments = undeposited([ns_payment(2, 42_000, "12", charge_id=None)], [invoice])
    decision = _decide(settled(transactions, charges), payments)
    assert _matches(decision) == {"txn_2": ("matched", "exact_invoice_id")}
    assert [a.kind for a in decision.actions] == [DEPOSIT]


def test_two_candidates_within_tolerance_hold_the_payout_for_a_person_not_as_orphans() -> None:
    """Two keyless Acme payments of the same amount: the tolerance tier cannot tell which is
    which, so it proposes; the payout waits for a person and its status says so."""
    transactions = [txn(1, "charge", 42_000, 1_248)]
    payments = [ns_payment(1, 42_000, charge_id=None), ns_payment(2, 42_000, charge_id=None)]
    decision = _decide(settled(transactions, [charge("ch_1", 42_000, "cus_acme")]), payments)
    assert _matches(decision) == {"txn_1": ("proposed", "tolerance")}
    assert decision.actions == ()  # no deposit, no orphan flag, no variance flag
    (summary,) = decision.data["payouts"]
    assert (summary["status"], summary["unresolved"], summary["variance"]) == (
        "matches_pending",
        ["txn_1"],
        None,
    )
    assert (decision.state, decision.queue) == ("exceptions", "ar_specialist")


def test_a_netsuite_payment_within_tolerance_of_two_payouts_is_never_deposited_twice() -> None:
    """The morning's payouts are matched together: one keyless payment that could be either
    payout's is offered to a person, not deposited on both."""
    first = settled([txn(1, "charge", 42_000)], [charge("ch_1", 42_000, "cus_acme")])
    second = settled(
        [txn(2, "charge", 42_000)], [charge("ch_2", 42_000, "cus_acme")], payout_id="po_2"
    )
    decision = _decide([first, second], [ns_payment(9, 42_000, charge_id=None)])
    assert [a.kind for a in decision.actions] == []
    assert [p["status"] for p in decision.data["payouts"]] == ["matches_pending"] * 2


def test_a_payout_whose_lines_do_not_tie_becomes_a_variance_case() -> None:
    """Every payment matched, yet the lines come to 1.00 more than the bank received: nothing
    is posted and the variance is flagged, to open its own case."""
    transactions = [txn(1, "charge", 180_000, 5_250)]
    decision = _decide(settled(transactions, amount=174_650), [ns_payment(1, 180_000)])
    (flag,) = decision.actions
    assert (flag.kind, flag.subject) == (PAYOUT_VARIANCE_FLAG, "po_1")
    assert flag.params == {
        "payout": "po_1",
        "amount": 174_650,
        "currency": "USD",
        "arrival": "2026-12-02",
        "lines_total": 174_750,
        "variance": -100,
        "fees": 5_250,
        "lines": [
            {"type": "payment", "amount": 180_000, "reference": "501"},
            {"type": "fee", "amount": -5_250, "account": "6700-8", "reference": "Stripe fees po_1"},
        ],
    }
    (summary,) = decision.data["payouts"]
    assert (summary["status"], summary["variance"], summary["unresolved"]) == ("variance", -100, [])
    assert (decision.state, decision.queue) == ("exceptions", "billing_analyst")
    assert "1 payout variance(s) flagged" in decision.explanation


def test_a_payment_matched_within_the_drift_for_another_amount_is_a_variance() -> None:
    """With a drift of 1.00 the tolerance tier matches a payment NetSuite recorded 0.50 short;
    its deposit cannot tie, so it is a variance case rather than a deposit NetSuite refuses."""
    transactions = [txn(1, "charge", 42_000, 1_248)]
    decision = _decide(
        settled(transactions, [charge("ch_1", 42_000, "cus_acme")]),
        [ns_payment(1, 41_950, charge_id=None)],
        policy=Policy(match_amount_drift=100),
    )
    assert _matches(decision) == {"txn_1": ("matched", "tolerance")}
    (flag,) = decision.actions
    assert (flag.kind, flag.params["variance"]) == (PAYOUT_VARIANCE_FLAG, 50)


def test_a_variance_flag_is_keyed_by_its_payout_its_morning_and_its_figures() -> None:
    """The books corrected in part between runs: other figures are another flag of the same
    payout (to the same case), never the same key with other parameters, which would roll the
    whole morning back. The same figures the same morning are the same flag; the next morning
    flags them again."""
    transactions = [txn(1, "charge", 42_000, 1_248)]
    drift = Policy(match_amount_drift=100)
    charges = [charge("ch_1", 42_000, "cus_acme")]

    def flag(keyed: int, today: date = date(2026, 12, 3)) -> ActionSpec:
        decision = _decide(
            settled(transactions, charges),
            [ns_payment(1, keyed, charge_id=None)],
            policy=drift,
            today=today,
        )
        (found,) = decision.actions
        assert (found.kind, found.subject) == (PAYOUT_VARIANCE_FLAG, "po_1")
        return found

    short, partly_corrected = flag(41_950), flag(41_980)
    assert (short.params["variance"], partly_corrected.params["variance"]) == (50, 20)
    assert short.attempt != partly_corrected.attempt
    assert str(short.attempt).startswith("2026-12-03.")
    assert flag(41_950) == short
    next_morning = flag(41_950, date(2026, 12, 4))
    assert next_morning.params == short.params
    assert str(next_morning.attempt).startswith("2026-12-04.")


# -- duplicates and payments NetSuite never recorded ------------------------------------------


def test_a_payment_of_a_duplicate_invoice_is_flagged_and_still_deposited() -> None:
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "charge", 180_000, 5_250)]
    payments = [ns_payment(1, 180_000, "11"), ns_payment(2, 180_000, "12")]
    invoices = [
        ns_invoice("11", "INV-2026-1301", 180_000, date(2026, 12, 1)),
        ns_invoice("12", "INV-2026-1302", 180_000, date(2026, 12, 1)),
    ]
    decision = _decide(settled(transactions), undeposited(payments, invoices), invoices)
    kinds = [(a.kind, a.subject) for a in decision.actions]
    assert kinds == [(DUPLICATE_FLAG, "12"), (DEPOSIT, "po_1")]
    flag = decision.actions[0].params
    assert (flag["kept_invoice_number"], flag["invoice_number"]) == (
        "INV-2026-1301",
        "INV-2026-1302",
    )
    assert (flag["charge"], flag["payment"], flag["amount"]) == ("ch_2", "502", 180_000)
    assert decision.state == "reconciled"  # the money is real: the payout is deposited whole
    assert "1 duplicate invoice(s) flagged" in decision.explanation


def test_a_copy_paid_first_on_a_deposited_payout_is_flagged_when_the_original_is_paid() -> None:
    """The customer paid the copy (INV-2026-1302) first, on Tuesday's payout, deposited since;
    Thursday's payout brings the payment of the original. Only now are both paid: the copy is
    flagged with the charge that paid it, and the original's payout is deposited as usual."""
    transactions = [txn(1, "charge", 180_000, 5_250)]
    invoices = [
        ns_invoice("11", "INV-2026-1301", 180_000, date(2026, 12, 1)),
        ns_invoice("12", "INV-2026-1302", 180_000, date(2026, 12, 1)),
    ]
    original = ns_payment(1, 180_000, "11")
    copy_paid = replace(ns_payment(2, 180_000, "12"), undeposited=False)
    decision = _decide(
        settled(transactions), [original], invoices, alike_payments=[original, copy_paid]
    )
    flag, deposit = decision.actions
    assert (flag.kind, flag.subject, deposit.kind) == (DUPLICATE_FLAG, "12", DEPOSIT)
    assert (flag.params["charge"], flag.params["payment"]) == ("ch_2", copy_paid.id)
    assert flag.params["kept_invoice_number"] == "INV-2026-1301"
    # Paid first by hand, without a charge to refund, or not yet deposited (its own payout
    # flags it): nothing is flagged here.
    for unflagged in (
        replace(copy_paid, stripe_charge_id=None),
        replace(copy_paid, undeposited=True),
    ):
        (only,) = _decide(
            settled(transactions), [original], invoices, alike_payments=[original, unflagged]
        ).actions
        assert only.kind == DEPOSIT


def test_a_duplicate_found_from_either_payout_is_the_same_flag() -> None:
    """The copy is found on its own payout's morning, and again on a morning that reconciles the
    original's payout (held until then, or run again by a person) while the copy is not voided
    yet: one finding, so one flag. Were the payout that found it a parameter, the second morning
    would propose the same key with other parameters, and roll back on the conflict."""
    invoices = [
        ns_invoice("11", "INV-2026-1301", 180_000, date(2026, 12, 1)),
        ns_invoice("12", "INV-2026-1302", 180_000, date(2026, 12, 1)),
    ]
    original, copy_paid = ns_payment(1, 180_000, "11"), ns_payment(2, 180_000, "12")
    on_its_own_payout = _decide(
        settled([txn(2, "charge", 180_000, 5_250)], payout_id="po_copy"), [copy_paid], invoices
    ).actions[0]
    deposited = replace(copy_paid, undeposited=False)
    on_the_originals = _decide(
        settled([txn(1, "charge", 180_000, 5_250)], payout_id="po_original"),
        [original],
        invoices,
        alike_payments=[original, deposited],
    ).actions[0]
    assert on_its_own_payout.kind == on_the_originals.kind == DUPLICATE_FLAG
    assert on_its_own_payout == on_the_originals


def test_a_duplicate_paid_by_a_payment_matched_without_its_charge_id_names_the_charge() -> None:
    """The duplicate's refund needs the Stripe charge: it comes from the payout's payment, not
    from the NetSuite record, which may lack it."""
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "charge", 180_000, 5_250)]
    charges = [charge("ch_1", 180_000, "cus_acme"), charge("ch_2", 180_000, "cus_acme")]
    payments = [ns_payment(1, 180_000, "11"), ns_payment(2, 180_000, "12", charge_id=None)]
    invoices = [
        ns_invoice("11", "INV-2026-1301", 180_000, date(2026, 12, 1)),
        ns_invoice("12", "INV-2026-1302", 180_000, date(2026, 12, 1)),
    ]
    decision = _decide(settled(transactions, charges), undeposited(payments, invoices), invoices)
    assert _matches(decision)["txn_2"] == ("matched", "tolerance")
    flag = next(a for a in decision.actions if a.kind == DUPLICATE_FLAG)
    assert (flag.params["charge"], flag.params["payment"]) == ("ch_2", "502")


def test_last_months_invoice_of_the_same_amount_is_not_a_duplicate() -> None:
    transactions = [txn(2, "charge", 180_000, 5_250)]
    invoices = [
        ns_invoice("11", "INV-2026-1201", 180_000, date(2026, 11, 2)),
        ns_invoice("12", "INV-2026-1302", 180_000, date(2026, 12, 2)),
    ]
    decision = _decide(settled(transactions), [ns_payment(2, 180_000, "12")], invoices)
    assert [a.kind for a in decision.actions] == [DEPOSIT]


def test_a_payment_netsuite_invoiced_but_never_recorded_is_recorded_not_orphaned() -> None:
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "charge", 42_000, 1_248)]
    open_invoice = replace(
        ns_invoice("12", "INV-2026-1302", 42_000, date(2026, 12, 1)),
        status=InvoiceStatus.OPEN,
        amount_remaining=42_000,
    )
    decision = _decide(
        settled(transactions), [ns_payment(1, 180_000)], invoiced={"ch_2": open_invoice}
    )
    (record,) = decision.actions
    assert (record.kind, record.subject) == ("netsuite.customer_payment.create", "ch_2")
    # Dated the day its payout reached the bank, the date of the deposit that follows.
    assert record.params == {
        "invoice": "12",
        "charge": "ch_2",
        "amount": 42_000,
        "currency": "USD",
        "date": "2026-12-02",
    }
    (summary,) = decision.data["payouts"]
    assert summary["status"] == "recording_payments"  # the deposit follows once it is recorded
    assert (decision.state, decision.queue) == ("recording", None)


def test_an_invoice_for_less_than_the_payment_holds_it_for_a_person_not_as_an_orphan() -> None:
    transactions = [txn(2, "charge", 42_000, 1_248)]
    smaller = replace(
        ns_invoice("12", "INV-2026-1302", 40_000, date(2026, 12, 1)),
        status=InvoiceStatus.OPEN,
        amount_remaining=40_000,
    )
    decision = _decide(settled(transactions), [], invoiced={"ch_2": smaller})
    assert decision.actions == ()
    (summary,) = decision.data["payouts"]
    assert summary["status"] == "matches_pending"
    assert "INV-2026-1302 has $400.00 remaining" in summary["matches"][0]["reason"]


# -- the morning's decision, over generated payouts ---------------------------------------------

# What a movement on a payout is: a payment NetSuite recorded with its charge id, one keyed by
# hand without it (same customer, amount and day), one NetSuite has no record of, a refund, an
# adjustment. A few amounts recur so that payments of one customer collide and go to a person.
_KINDS = ["recorded", "keyless", "orphan", "refund", "adjustment"]
_payout_movements = st.lists(
    st.tuples(
        st.sampled_from(_KINDS),
        st.sampled_from([42_000, 180_000]) | st.integers(1, 2_000_000),
        st.integers(0, 60_000),
        st.sampled_from(sorted(CUSTOMERS)),
    ),
    min_size=1,
    max_size=8,
)
# Payout minus what its transactions net: nonzero when the bank received another amount.
_payouts = st.lists(
    st.tuples(_payout_movements, st.sampled_from([0, 0, 0, 100, -2_500])),
    min_size=1,
    max_size=3,
)


def _morning(
    generated: list[tuple[list[tuple[str, int, int, str]], int]],
) -> tuple[list[SettledPayout], list[CustomerPayment], list[tuple[str, tuple[int, str]]]]:
    """The payouts, NetSuite's undeposited payments, and each orphan (its number, amount and
    NetSuite customer)."""
    payouts = []
    payments = []
    orphans = []
    for p, (movements, delta) in enumerate(generated):
        transactions = []
        charges = []
        for m, (kind, amount, fee, customer) in enumerate(movements):
            n = f"{p}{m}"
            if kind in ("refund", "adjustment"):
                transactions.append(txn(n, kind, -amount, source=f"{kind}_{n}"))
                continue
            transactions.append(txn(n, "charge", amount, fee))
            charges.append(charge(f"ch_{n}", amount, customer))
            netsuite_customer = CUSTOMERS[customer].id
            if kind == "recorded":
                payments.append(ns_payment(n, amount, customer=netsuite_customer))
            elif kind == "keyless":
                payments.append(ns_payment(n, amount, customer=netsuite_customer, charge_id=None))
            else:
                orphans.append((n, (amount, netsuite_customer)))
        net = sum(t.net for t in transactions)
        payouts.append(settled(transactions, charges, net + delta, f"po_{p}"))
    return payouts, payments, orphans


def _check_the_morning(decision: Decision, payouts: list[SettledPayout]) -> dict[str, str]:
    """Every payment is exactly one of a deposit line (its payout deposited), an orphan flag,
    or held as a proposed (or blocked) match; a deposit ties to its payout with the fees on one
    line; no NetSuite payment is deposited twice. Returns each payout's status."""
    flagged = {a.params["balance_transaction"] for a in decision.actions if a.kind == ORPHAN_FLAG}
    deposits = {a.subject: a.params for a in decision.actions if a.kind == DEPOSIT}
    variances = {a.subject: a.params for a in decision.actions if a.kind == PAYOUT_VARIANCE_FLAG}
    statuses = {}
    for settled_payout, summary in zip(payouts, decision.data["payouts"], strict=True):
        payout_id = settled_payout.payout.id
        transactions = settled_payout.transactions
        payments = {t.id for t in transactions if t.type == "charge"}
        fees = sum(t.fee for t in transactions)
        outcome = {m["transaction"]: m for m in summary["matches"]}
        assert set(outcome) == payments
        matched = {t for t, m in outcome.items() if m["status"] == "matched"}
        held = {t for t, m in outcome.items() if m["status"] in ("proposed", "blocked")}
        orphaned = payments & flagged
        assert orphaned == {t for t, m in outcome.items() if m["status"] == "unmatched"}
        assert matched | held | orphaned == payments
        assert not matched & orphaned and not matched & held and not held & orphaned
        assert summary["fees"] == fees  # orphans or not
        statuses[payout_id] = summary["status"]
        if payout_id in deposits:
            lines = deposits[payout_id]["lines"]
            assert sum(line["amount"] for line in lines) == settled_payout.payout.amount
            payment_lines = [line["reference"] for line in lines if line["type"] == "payment"]
            assert sorted(payment_lines) == sorted(outcome[t]["netsuite"][0] for t in matched)
            assert matched == payments  # deposited: nothing orphaned, nothing held
            fee_lines = [-line["amount"] for line in lines if line["type"] == "fee"]
            assert fee_lines == ([fees] if fees else [])
            assert summary["status"] == "deposit_proposed"
        elif orphaned:
            assert summary["status"] == "orphans_pending"
        elif held:
            assert summary["status"] == "matches_pending"
        else:
            assert summary["status"] == "variance"
            assert variances[payout_id]["variance"] == summary["variance"] != 0
        assert (payout_id in variances) == (summary["status"] == "variance")
    refs = [
        line["reference"]
        for params in deposits.values()
        for line in params["lines"]
        if line["type"] == "payment"
    ]
    assert len(refs) == len(set(refs))
    return statuses


@settings(max_examples=60, deadline=None)
@given(generated=_payouts)
def test_every_payment_is_a_deposit_line_an_orphan_or_held_and_deposits_tie(
    generated: list[tuple[list[tuple[str, int, int, str]], int]],
) -> None:
    payouts, payments, orphans = _morning(generated)
    first = _check_the_morning(_decide(payouts, payments), payouts)

    # The orphans are investigated and recorded in NetSuite with their charge ids: the payouts
    # they held tie the next morning, unless a match still waits for a person or the bank
    # received another amount.
    recorded = [ns_payment(n, amount, customer=customer) for n, (amount, customer) in orphans]
    second = _check_the_morning(_decide(payouts, payments + recorded), payouts)
    assert "orphans_pending" not in second.values()
    for (_, delta), settled_payout in zip(generated, payouts, strict=True):
        payout_id = settled_payout.payout.id
        if first[payout_id] == "orphans_pending" and second[payout_id] != "matches_pending":
            assert second[payout_id] == ("deposit_proposed" if delta == 0 else "variance")


def test_a_payment_of_nothing_is_neither_matched_nor_an_orphan() -> None:
    """A zero-amount charge on the payout moves no money: no line, no orphan, and the payout is
    deposited."""
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "charge", 0)]
    charges = [charge("ch_1", 180_000, "cus_acme"), charge("ch_2", 0, "cus_acme")]
    decision = _decide(settled(transactions, charges), [ns_payment(1, 180_000)])
    assert [a.kind for a in decision.actions] == [DEPOSIT]
    assert decision.data["payouts"][0]["status"] == "deposit_proposed"


def test_stripe_s_currency_conversion_and_tax_fees_join_the_fee_line() -> None:
    transactions = [
        txn(1, "charge", 180_000, 5_250),
        replace(txn(2, "stripe_fx_fee", -1_000, source=None), reporting_category="fee"),
        replace(txn(3, "tax_fee", -200, source=None), reporting_category="fee"),
    ]
    plan = compose(payout(transactions), transactions, {"txn_1": ns_payment(1, 180_000)}, POLICY)
    assert [(line.type, line.amount, line.account) for line in plan.lines] == [
        ("payment", 180_000, None),
        ("fee", -6_450, "6700-8"),
    ]
