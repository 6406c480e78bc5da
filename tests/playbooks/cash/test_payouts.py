"""Deposit composition and the morning's decision, on records built in the test."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from revline.config import Policy
from revline.core.cases import CaseView
from revline.core.playbook import Decision, Facts, Trigger
from revline.playbooks.cash.deposit import compose
from revline.playbooks.cash.flags import DUPLICATE_FLAG, ORPHAN_FLAG
from revline.playbooks.cash.payouts import PayoutReconciliation, SettledPayout
from revline.providers.netsuite.records import CustomerPayment, Invoice, InvoiceStatus
from revline.providers.stripe.records import BalanceTransaction, Payout

AT = datetime(2026, 12, 2, 15, tzinfo=UTC)
POLICY = Policy()


def txn(
    n: int, kind: str, amount: int, fee: int = 0, source: str | None = None
) -> BalanceTransaction:
    return BalanceTransaction(
        id=f"txn_{n}",
        amount=amount,
        fee=fee,
        fee_details=(),
        net=amount - fee,
        currency="usd",
        type=kind,
        reporting_category=kind,
        source=source or f"ch_{n}",
        status="available",
        available_on=AT,
        created=AT,
        description=None,
    )


def payout(transactions: list[BalanceTransaction], amount: int | None = None) -> Payout:
    return Payout(
        id="po_1",
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


def ns_payment(n: int, amount: int, invoice: str = "9") -> CustomerPayment:
    return CustomerPayment(
        id=str(5000 + n),
        number=f"PYMT-{n}",
        customer_id="7",
        amount=amount,
        currency="USD",
        undeposited=True,
        date=AT.date(),
        applied_invoices=(invoice,),
        stripe_charge_id=f"ch_{n}",
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
    payments = {t.id: f"p{t.id}" for t in transactions if t.type == "charge"}
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
    plan = compose(payout(transactions, amount=9_000), transactions, {"txn_1": "5001"}, POLICY)
    assert plan.variance == 9_000 - 9_680
    assert not plan.postable


def _decide(
    transactions: list[BalanceTransaction],
    payments: list[CustomerPayment],
    invoices: list[Invoice] | None = None,
    invoiced: dict[str, Invoice] | None = None,
) -> Decision:
    settled = SettledPayout(payout(transactions), tuple(transactions), {}, False, date(2026, 12, 2))
    case = CaseView(
        id="cas_1",
        kind="payout_reconciliation",
        playbook="payout_reconciliation",
        subject="payouts:2026-12-03",
        customer=None,
        state="open",
        state_version=1,
        correlation_id="cas_1",
        next_action_at=None,
        data={},
        flags={},
        queue=None,
        opened_at=AT,
        closed_at=None,
    )
    facts = Facts(
        Trigger("event", AT),
        {
            "business_date": date(2026, 12, 3),
            "payouts": [settled],
            "undeposited": payments,
            "invoices": invoices or [],
            "invoiced": invoiced or {},
        },
    )
    return PayoutReconciliation().decide(case, facts, POLICY, AT)


def test_a_clean_payout_is_one_deposit_keyed_by_the_payout() -> None:
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "refund", -20_000, source="re_2")]
    decision = _decide(transactions, [ns_payment(1, 180_000)])
    (deposit,) = decision.actions
    assert (deposit.kind, deposit.subject) == ("netsuite.deposit.create", "po_1")
    assert deposit.params["amount"] == 180_000 - 5_250 - 20_000
    assert deposit.params["lines"] == [
        {"type": "payment", "amount": 180_000, "reference": "5001"},
        {"type": "refund", "amount": -20_000, "account": "4090", "reference": "re_2"},
        {"type": "fee", "amount": -5_250, "account": "6700-8", "reference": "Stripe fees po_1"},
    ]
    assert decision.state == "reconciled"


def test_an_orphan_is_flagged_and_holds_the_deposit() -> None:
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "charge", 42_000, 1_248)]
    decision = _decide(transactions, [ns_payment(1, 180_000)])
    kinds = [(a.kind, a.subject) for a in decision.actions]
    assert kinds == [(ORPHAN_FLAG, "ch_2")]
    assert decision.state == "exceptions"
    (summary,) = decision.data["payouts"]
    statuses = {m["transaction"]: m["status"] for m in summary["matches"]}
    # No payment is both matched and orphaned.
    assert statuses == {"txn_1": "matched", "txn_2": "unmatched"}
    assert summary["unresolved"] == ["txn_2"]


def test_the_same_morning_decided_twice_proposes_the_same_deposit() -> None:
    transactions = [txn(1, "charge", 180_000, 5_250)]
    first = _decide(transactions, [ns_payment(1, 180_000)])
    second = _decide(transactions, [ns_payment(1, 180_000)])
    assert first.actions == second.actions


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


def test_a_payment_of_a_duplicate_invoice_is_flagged_and_still_deposited() -> None:
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "charge", 180_000, 5_250)]
    payments = [ns_payment(1, 180_000, "11"), ns_payment(2, 180_000, "12")]
    invoices = [
        ns_invoice("11", "INV-2026-1301", 180_000, date(2026, 12, 1)),
        ns_invoice("12", "INV-2026-1302", 180_000, date(2026, 12, 1)),
    ]
    decision = _decide(transactions, payments, invoices)
    kinds = [(a.kind, a.subject) for a in decision.actions]
    assert kinds == [(DUPLICATE_FLAG, "12"), ("netsuite.deposit.create", "po_1")]
    flag = decision.actions[0].params
    assert (flag["kept_invoice_number"], flag["invoice_number"]) == (
        "INV-2026-1301",
        "INV-2026-1302",
    )
    assert (flag["charge"], flag["payment"], flag["amount"]) == ("ch_2", "5002", 180_000)
    assert decision.state == "reconciled"  # the money is real: the payout is deposited whole
    assert "1 duplicate invoice(s) flagged" in decision.explanation


def test_last_months_invoice_of_the_same_amount_is_not_a_duplicate() -> None:
    transactions = [txn(2, "charge", 180_000, 5_250)]
    invoices = [
        ns_invoice("11", "INV-2026-1201", 180_000, date(2026, 11, 2)),
        ns_invoice("12", "INV-2026-1302", 180_000, date(2026, 12, 2)),
    ]
    decision = _decide(transactions, [ns_payment(2, 180_000, "12")], invoices)
    assert [a.kind for a in decision.actions] == ["netsuite.deposit.create"]


def test_a_payment_netsuite_invoiced_but_never_recorded_is_recorded_not_orphaned() -> None:
    transactions = [txn(1, "charge", 180_000, 5_250), txn(2, "charge", 42_000, 1_248)]
    open_invoice = replace(
        ns_invoice("12", "INV-2026-1302", 42_000, date(2026, 12, 1)),
        status=InvoiceStatus.OPEN,
        amount_remaining=42_000,
    )
    decision = _decide(transactions, [ns_payment(1, 180_000)], invoiced={"ch_2": open_invoice})
    (record,) = decision.actions
    assert (record.kind, record.subject) == ("netsuite.customer_payment.create", "ch_2")
    assert record.params == {"invoice": "12", "charge": "ch_2", "amount": 42_000}
    (summary,) = decision.data["payouts"]
    assert summary["status"] == "recording_payments"  # the deposit follows once it is recorded
    assert (decision.state, decision.queue) == ("recording", None)


def test_an_invoice_for_less_than_the_payment_does_not_explain_it() -> None:
    transactions = [txn(2, "charge", 42_000, 1_248)]
    smaller = replace(
        ns_invoice("12", "INV-2026-1302", 40_000, date(2026, 12, 1)),
        status=InvoiceStatus.OPEN,
        amount_remaining=40_000,
    )
    decision = _decide(transactions, [], invoiced={"ch_2": smaller})
    assert [a.kind for a in decision.actions] == [ORPHAN_FLAG]
