"""Duplicate invoice resolution: which invoices are duplicates, and the procedure step by step."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from revline.config import Policy
from revline.core.cases import ActionView
from revline.core.playbook import Decision, Facts, Trigger
from revline.playbooks.cash.duplicates import (
    DuplicateInvoiceResolution,
    find_duplicates,
    paid_alike,
)
from revline.providers.netsuite.records import Invoice, InvoiceStatus
from revline.providers.stripe.records import Charge
from tests.support.cases import case_view
from tests.support.stripe_records import succeeded_charge

AT = datetime(2026, 12, 3, 13, tzinfo=UTC)
POLICY = Policy()
PAID = InvoiceStatus.PAID_IN_FULL


def invoice(
    id_: str,
    on: date = date(2026, 12, 1),
    *,
    amount: int = 180_000,
    status: InvoiceStatus = PAID,
    memo: str = "Implementation fee",
    currency: str = "USD",
    customer: str = "7",
    subscription: str | None = None,
) -> Invoice:
    return Invoice(
        id=id_,
        number=f"INV-{id_}",
        customer_id=customer,
        amount=amount,
        amount_remaining=0 if status is PAID else amount,
        currency=currency,
        status=status,
        date=on,
        stripe_invoice_id=f"in_{id_}",
        stripe_charge_id=None,
        stripe_subscription_id=subscription,
        memo=memo,
    )


DEC_1 = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("case", "invoices", "window", "expected"),
    [
        ("same obligation, same day", [invoice("11"), invoice("12")], 7, [("11", "12")]),
        (
            "the older one stands, whatever the id",
            [invoice("12", DEC_1 - timedelta(days=1)), invoice("11")],
            7,
            [("12", "11")],
        ),
        ("another description", [invoice("11"), invoice("12", memo="Training")], 7, []),
        ("another amount", [invoice("11"), invoice("12", amount=180_001)], 7, []),
        ("another currency", [invoice("11"), invoice("12", currency="EUR")], 7, []),
        ("another customer", [invoice("11"), invoice("12", customer="8")], 7, []),
        (
            "another subscription",
            [invoice("11", subscription="sub_a"), invoice("12", subscription="sub_b")],
            7,
            [],
        ),
        ("one not paid", [invoice("11"), invoice("12", status=InvoiceStatus.OPEN)], 7, []),
        ("one already voided", [invoice("11"), invoice("12", status=InvoiceStatus.VOIDED)], 7, []),
        (
            "7 days apart, window 7",
            [invoice("11"), invoice("12", DEC_1 + timedelta(7))],
            7,
            [("11", "12")],
        ),
        ("8 days apart, window 7", [invoice("11"), invoice("12", DEC_1 + timedelta(8))], 7, []),
        ("next month's invoice", [invoice("11"), invoice("12", date(2027, 1, 1))], 27, []),
        (
            "three copies: one stands",
            [invoice("13"), invoice("11"), invoice("12")],
            7,
            [("11", "12"), ("11", "13")],
        ),
        (
            "last month's invoice read with this month's and its copy",
            [
                invoice("11", DEC_1, subscription="sub_a"),
                invoice("21", date(2027, 1, 1), subscription="sub_a"),
                invoice("22", date(2027, 1, 2), subscription="sub_a"),
            ],
            7,
            [("21", "22")],
        ),
        (
            "a subscription's months, none billed twice",
            [invoice(str(n), date(2027, n, 1), subscription="sub_a") for n in (1, 2, 3)],
            27,
            [],
        ),
        (
            "a copy is compared with the invoice that stands, not with another copy",
            [
                invoice("11"),
                invoice("12", DEC_1 + timedelta(5)),
                invoice("13", DEC_1 + timedelta(10)),
            ],
            7,
            [("11", "12")],
        ),
        ("an invoice read twice is one invoice", [invoice("11"), invoice("11")], 7, []),
    ],
)
def test_which_invoices_are_duplicates(
    case: str, invoices: list[Invoice], window: int, expected: list[tuple[str, str]]
) -> None:
    found = find_duplicates(invoices, window)
    assert [(p.kept.id, p.duplicate.id) for p in found] == expected, case


def test_the_invoices_that_may_be_paid_twice_are_the_paid_ones_sharing_an_obligation() -> None:
    """What the morning run asks NetSuite the payments of: whatever the window, two paid
    invoices of one obligation; not an open one, not one alone, not another customer's."""
    invoices = [
        invoice("12"),
        invoice("11", date(2026, 10, 1)),  # a period earlier: alike, even if not a duplicate
        invoice("13", status=InvoiceStatus.OPEN),
        invoice("14", amount=99_000),
        invoice("15", customer="8"),
        invoice("12"),  # read twice
    ]
    assert paid_alike(invoices) == ["11", "12"]
    assert paid_alike([invoice("11")]) == []


FINDING = {
    "invoice": "12",
    "invoice_number": "INV-2026-1302",
    "kept_invoice": "11",
    "kept_invoice_number": "INV-2026-1301",
    "customer": "7",
    "amount": 42_000,
    "currency": "USD",
    "charge": "ch_dup",
    "payment": "5002",
    "payout": "po_1",
}
PRIYA = {"name": "Priya Nair", "email": "priya@ourco.example"}
KENJI = {"name": "Kenji Tanaka", "email": "kenji.tanaka@bluefin.example"}


def charge(refunded: int = 0) -> Charge:
    return succeeded_charge("ch_dup", 42_000, AT, customer="cus_1", amount_refunded=refunded)


def action(kind: str, status: str, result: dict[str, Any] | None = None) -> ActionView:
    return ActionView(
        id=f"act_{kind}",
        kind=kind,
        subject="12",
        idempotency_key=f"duplicate_invoice:{kind}:12:1",
        status=status,
        params={},
        result=result,
        error="NetSuite said no" if status == "failed" else None,
        created_at=AT,
        applied_at=AT if status == "applied" else None,
    )


def decide(
    actions: tuple[ActionView, ...] = (),
    *,
    state: str = "resolving",
    refunded: int = 0,
    sender: dict[str, str] | None = PRIYA,
    duplicate_status: InvoiceStatus = PAID,
) -> Decision:
    case = case_view(
        "duplicate_invoice",
        "12",
        state,
        AT,
        customer="7",
        data={"finding": FINDING},
        actions=actions,
    )
    facts = Facts(
        Trigger("action", AT),
        {
            "finding": FINDING,
            "duplicate": replace(invoice("12", amount=42_000), status=duplicate_status),
            "charge": charge(refunded),
            "recipient": KENJI,
            "sender": sender,
            "locale": "en_US",
        },
    )
    return DuplicateInvoiceResolution().decide(case, facts, POLICY, AT)


def kinds(decision: Decision) -> list[str]:
    return [a.kind for a in decision.actions]


def test_first_the_void_the_recognition_exit_and_the_refund() -> None:
    decision = decide()
    assert kinds(decision) == [
        "netsuite.invoice.void",
        "netsuite.revenue.exit",
        "stripe.refund.create",
    ]
    void, exit_, refund = decision.actions
    assert void.params == {"invoice": "12", "unapply_payments": True}  # a void, not a credit memo
    assert exit_.params == {"invoice": "12", "reason": "duplicate"}  # the same day
    assert refund.params == {
        "charge": "ch_dup",
        "amount": 42_000,
        "currency": "USD",
        "reason": "duplicate",
    }
    assert decision.state == "resolving"


def test_after_the_void_and_the_refund_the_books_and_the_apology() -> None:
    done = (
        action("netsuite.invoice.void", "applied"),
        action("netsuite.revenue.exit", "applied"),
        action("stripe.refund.create", "applied", {"refund": "re_1", "amount": 42_000}),
    )
    decision = decide(done)
    assert kinds(decision) == ["netsuite.customer_refund.create", "email.send"]
    books, email = decision.actions
    assert books.params == {
        "payment": "5002",
        "amount": 42_000,
        "currency": "USD",
        "account": "4090",  # where the refund's deposit line lands: the two cancel
        "memo": "Stripe refund re_1 of duplicate invoice INV-2026-1302",
    }
    assert email.params["from"] == PRIYA
    assert email.params["to"] == [KENJI["email"]]
    body = email.params["body"]
    greeting, line, signature = body.split("\n\n")
    assert greeting == "Hello Kenji,"
    assert "\n" not in line  # one line
    assert line.startswith("Sorry")
    assert "invoice INV-2026-1301 stands" in line  # the kept invoice, quoted
    assert "$420.00" in line
    assert signature == "Priya Nair"


def test_the_apology_waits_for_the_refund() -> None:
    waiting = (
        action("netsuite.invoice.void", "applied"),
        action("netsuite.revenue.exit", "applied"),
        action("stripe.refund.create", "awaiting_approval"),
    )
    decision = decide(waiting)
    assert kinds(decision) == []
    assert decision.state == "resolving"
    assert "stripe.refund.create" in decision.explanation


def test_every_step_confirmed_resolves_the_case() -> None:
    done = tuple(
        action(kind, "applied", {"refund": "re_1"})
        for kind in (
            "netsuite.invoice.void",
            "netsuite.revenue.exit",
            "stripe.refund.create",
            "netsuite.customer_refund.create",
            "email.send",
        )
    )
    decision = decide(done)
    assert (decision.state, decision.queue, kinds(decision)) == ("resolved", None, [])


def test_a_step_that_fails_goes_to_the_ar_specialist() -> None:
    decision = decide(
        (action("netsuite.invoice.void", "applied"), action("netsuite.revenue.exit", "failed"))
    )
    assert (decision.state, decision.queue) == ("needs_person", "ar_specialist")
    assert "NetSuite said no" in decision.explanation


def test_a_rejected_refund_goes_to_the_ar_specialist_and_nothing_is_said() -> None:
    rejected = replace(
        action("stripe.refund.create", "cancelled"), error="rejected by user:maya: not ours"
    )
    decision = decide((action("netsuite.invoice.void", "applied"), rejected))
    assert (decision.state, decision.queue, kinds(decision)) == (
        "needs_person",
        "ar_specialist",
        [],
    )
    assert "not ours" in decision.explanation


def test_a_charge_refunded_by_hand_is_not_refunded_twice() -> None:
    decision = decide(refunded=42_000)
    assert "stripe.refund.create" not in kinds(decision)
    done = (action("netsuite.invoice.void", "applied"), action("netsuite.revenue.exit", "applied"))
    after = decide(done, refunded=42_000)
    assert kinds(after) == ["netsuite.customer_refund.create", "email.send"]


def test_an_invoice_voided_by_hand_is_not_voided_again() -> None:
    decision = decide(duplicate_status=InvoiceStatus.VOIDED)
    assert "netsuite.invoice.void" not in kinds(decision)


def test_without_someone_to_write_from_the_ar_specialist_writes() -> None:
    done = (
        action("netsuite.invoice.void", "applied"),
        action("netsuite.revenue.exit", "applied"),
        action("stripe.refund.create", "applied", {"refund": "re_1"}),
    )
    decision = decide(done, sender=None)
    assert kinds(decision) == ["netsuite.customer_refund.create"]
    assert (decision.state, decision.queue) == ("needs_person", "ar_specialist")


def test_deciding_twice_proposes_the_same() -> None:
    assert decide().actions == decide().actions
