"""Duplicate invoice resolution: which invoices are duplicates, and the procedure step by step."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from revline.clock import SimulatedClock
from revline.config import Company, Person, Policy
from revline.core.cases import ActionView, CaseView
from revline.core.inbox import EventView
from revline.core.playbook import Decision, Enrichment, Facts, Trigger
from revline.playbooks.cash.duplicates import (
    DuplicateInvoiceResolution,
    find_duplicates,
    paid_alike,
)
from revline.providers.netsuite.records import Invoice, InvoiceStatus
from revline.providers.stripe.records import Dispute, Refund
from tests.support.cases import case_view

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
}
PRIYA = {"name": "Priya Nair", "email": "priya@ourco.example"}
KENJI = {"name": "Kenji Tanaka", "email": "kenji.tanaka@bluefin.example"}


# What the Stripe adapter answers for a refund Stripe made at once (a card's).
REFUNDED = {"refund": "re_1", "amount": 42_000, "status": "succeeded"}


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


def duplicate_case(state: str, actions: tuple[ActionView, ...]) -> CaseView:
    """INV-2026-1302's case, its finding recorded, with ``actions`` so far."""
    return case_view(
        "duplicate_invoice",
        "12",
        state,
        AT,
        customer="7",
        data={"finding": FINDING},
        actions=actions,
    )


def decide(
    actions: tuple[ActionView, ...] = (),
    *,
    state: str = "resolving",
    refunded: int = 0,
    sender: dict[str, str] | None = PRIYA,
    duplicate_status: InvoiceStatus = PAID,
    refund_status: str | None = None,
    trigger: Trigger | None = None,
    dispute: str | None = None,
) -> Decision:
    case = duplicate_case(state, actions)
    facts = Facts(
        trigger or Trigger("action", AT),
        {
            "finding": FINDING,
            "duplicate": replace(invoice("12", amount=42_000), status=duplicate_status),
            "refunded_by_hand": refunded,
            "dispute": {"id": "dp_1", "status": dispute} if dispute else None,
            "recipient": KENJI,
            "sender": sender,
            "locale": "en_US",
            "refund_status": refund_status,
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
        # What Stripe says of the refund later finds this case (``refund.updated``).
        "metadata": {"revline_duplicate_invoice": "12"},
    }
    assert decision.state == "resolving"


def test_after_the_void_and_the_refund_the_books_and_the_apology() -> None:
    done = (
        action("netsuite.invoice.void", "applied"),
        action("netsuite.revenue.exit", "applied"),
        action("stripe.refund.create", "applied", REFUNDED),
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


def test_nothing_is_said_while_stripe_s_refund_is_pending() -> None:
    """A refund Stripe accepted but has not settled (a bank debit's takes days) has not reached
    the customer: no customer refund in the books, no apology, and the case reads Stripe again
    in an hour."""
    pending = (
        action("netsuite.invoice.void", "applied"),
        action("netsuite.revenue.exit", "applied"),
        action("stripe.refund.create", "applied", {**REFUNDED, "status": "pending"}),
    )
    decision = decide(pending, refund_status="pending")
    assert (decision.state, kinds(decision)) == ("resolving", [])
    assert decision.next_action_at == AT + timedelta(hours=1)
    assert "Stripe's refund re_1 is pending" in decision.explanation
    # Settled since: the books and the apology follow.
    settled = decide(pending, refund_status="succeeded")
    assert kinds(settled) == ["netsuite.customer_refund.create", "email.send"]


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_a_refund_stripe_failed_goes_to_the_ar_specialist(status: str) -> None:
    made = (
        action("netsuite.invoice.void", "applied"),
        action("netsuite.revenue.exit", "applied"),
        action("stripe.refund.create", "applied", {**REFUNDED, "status": "pending"}),
    )
    decision = decide(made, refund_status=status)
    assert (decision.state, decision.queue, kinds(decision)) == (
        "needs_person",
        "ar_specialist",
        [],
    )
    assert f"stripe.refund.create: Stripe's refund re_1 {status}" in decision.explanation


def refund_updated(
    status: str, before: str | None, metadata: dict[str, str] | None = None
) -> Trigger:
    """Stripe's ``refund.updated`` of the case's refund re_1, now ``status``."""
    obj = {
        "id": "re_1",
        "object": "refund",
        "status": status,
        "metadata": {"revline_duplicate_invoice": "12"} if metadata is None else metadata,
    }
    data: dict[str, Any] = {"object": obj}
    if before is not None:
        data["previous_attributes"] = {"status": before}
    event = EventView(
        id=9,
        source="stripe",
        external_id="evt_refund_failed",
        type="refund.updated",
        occurred_at=AT,
        received_at=AT,
        payload={"id": "evt_refund_failed", "type": "refund.updated", "data": data},
    )
    return Trigger("event", AT, event)


def test_stripe_s_word_on_the_case_s_refund_finds_the_case() -> None:
    playbook = DuplicateInvoiceResolution()
    ref = playbook.case_for(refund_updated("failed", "succeeded").event)  # type: ignore[arg-type]
    assert ref is not None and (ref.subject, ref.opens) == ("12", False)
    # A refund no case made (refunded by hand in the dashboard) concerns no case.
    other = refund_updated("failed", "succeeded", metadata={}).event
    assert playbook.case_for(other) is None  # type: ignore[arg-type]


ALL_DONE = (
    "netsuite.invoice.void",
    "netsuite.revenue.exit",
    "stripe.refund.create",
    "netsuite.customer_refund.create",
    "email.send",
)


def test_a_refund_stripe_fails_after_it_succeeded_reopens_the_resolved_case() -> None:
    """The refund reached the card, the customer refund was booked and the customer told; days
    later Stripe fails the refund (the card was closed). The books and the apology now state
    money that never reached the customer: the AR specialist reverses and tells."""
    done = tuple(action(kind, "applied", REFUNDED) for kind in ALL_DONE)
    decision = decide(
        done,
        state="resolved",
        refund_status="failed",
        trigger=refund_updated("failed", "succeeded"),
    )
    assert (decision.state, decision.queue, kinds(decision)) == (
        "needs_person",
        "ar_specialist",
        [],
    )
    assert "Stripe's refund re_1 failed" in decision.explanation
    assert (
        "the customer refund booked in NetSuite (on 4090) and the apology stand for money that "
        "did not reach the customer: reverse it and tell the customer" in decision.explanation
    )


@pytest.mark.parametrize(
    "trigger",
    [
        Trigger("timer", AT),  # a failure the case was told of, settled since by a person
        refund_updated("failed", None),  # a later word of the failed refund (its metadata)
    ],
)
def test_a_resolved_case_reopens_only_on_the_news_of_the_failure(trigger: Trigger) -> None:
    done = tuple(action(kind, "applied", REFUNDED) for kind in ALL_DONE)
    decision = decide(done, state="resolved", refund_status="failed", trigger=trigger)
    assert decision.state is None or decision.state == "resolved"
    assert decision.explanation == "nothing new for this duplicate invoice"


def test_every_step_confirmed_resolves_the_case() -> None:
    done = tuple(
        action(kind, "applied", REFUNDED)
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


def test_an_invoice_voided_by_hand_after_the_cases_void_failed_goes_on() -> None:
    """The case's void failed (NetSuite said no) and went to the AR specialist; she voided the
    duplicate by hand in NetSuite and asks the case to decide again. The void is done: the case
    goes on to the books and the apology, and says how the invoice came to be voided."""
    done = (
        action("netsuite.invoice.void", "failed"),
        action("netsuite.revenue.exit", "applied"),
        action("stripe.refund.create", "applied", REFUNDED),
    )
    decision = decide(done, state="needs_person", duplicate_status=InvoiceStatus.VOIDED)
    assert (decision.state, decision.queue, kinds(decision)) == (
        "resolving",
        None,
        ["netsuite.customer_refund.create", "email.send"],
    )
    assert decision.explanation.endswith(
        "; INV-2026-1302 was voided by hand in NetSuite after the case's own void was not made "
        "(NetSuite said no)"
    )
    # Not voided: the failure is still the AR specialist's.
    assert decide(done, state="needs_person").state == "needs_person"


def test_an_invoice_voided_by_hand_while_the_cases_void_waits_is_done() -> None:
    waiting = (action("netsuite.invoice.void", "held"), action("netsuite.revenue.exit", "applied"))
    decision = decide(waiting, refunded=42_000, duplicate_status=InvoiceStatus.VOIDED)
    assert kinds(decision) == ["netsuite.customer_refund.create", "email.send"]
    # Every other step confirmed: still not resolved while its own void waits (the emergency
    # stop holds it); that void's outcome brings the case back.
    rest = (
        action("stripe.refund.create", "applied", REFUNDED),
        action("netsuite.customer_refund.create", "applied"),
        action("email.send", "applied"),
    )
    held = decide((*waiting, *rest), duplicate_status=InvoiceStatus.VOIDED)
    assert (held.state, kinds(held)) == ("resolving", [])


def test_without_someone_to_write_from_the_ar_specialist_writes() -> None:
    done = (
        action("netsuite.invoice.void", "applied"),
        action("netsuite.revenue.exit", "applied"),
        action("stripe.refund.create", "applied", REFUNDED),
    )
    decision = decide(done, sender=None)
    assert kinds(decision) == ["netsuite.customer_refund.create"]
    assert (decision.state, decision.queue) == ("needs_person", "ar_specialist")


def test_deciding_twice_proposes_the_same() -> None:
    assert decide().actions == decide().actions


# A refund made by hand in the Stripe dashboard while the case's own refund waits or fails.
VOIDED_AND_OUT = (
    action("netsuite.invoice.void", "applied"),
    action("netsuite.revenue.exit", "applied"),
)
AFTER_THE_REFUND = ["netsuite.customer_refund.create", "email.send"]


def test_a_refund_awaiting_approval_is_cancelled_when_the_charge_was_refunded_by_hand() -> None:
    """The refund waits for the manager; meanwhile someone refunds the charge in the Stripe
    dashboard. The case does not refund it again: it cancels its own refund, and the books
    and the apology follow as if it had been made."""
    waiting = (*VOIDED_AND_OUT, action("stripe.refund.create", "awaiting_approval"))
    decision = decide(waiting, refunded=42_000)
    assert (
        decision.cancel_pending == "charge ch_dup was refunded by hand in Stripe (in full, $420.00)"
    )
    assert (decision.state, kinds(decision)) == ("resolving", AFTER_THE_REFUND)
    books = decision.actions[0]
    assert books.params["memo"] == "Stripe refund made by hand of duplicate invoice INV-2026-1302"
    assert books.params["amount"] == 42_000
    assert "the case's own refund is cancelled" in decision.explanation


def test_a_refund_stripe_refused_as_already_made_by_hand_goes_on() -> None:
    """Approved after the refund by hand: Stripe refuses a second refund, and the case reads
    the charge refunded rather than a step that failed."""
    refused = replace(
        action("stripe.refund.create", "failed"), error="Charge ch_dup has already been refunded."
    )
    decision = decide((*VOIDED_AND_OUT, refused), refunded=42_000)
    assert (decision.state, kinds(decision)) == ("resolving", AFTER_THE_REFUND)
    assert decision.cancel_pending is None  # nothing left to cancel
    assert "own refund was not made (Charge ch_dup has already been refunded.)" in (
        decision.explanation
    )


def test_a_refund_rejected_because_it_was_made_by_hand_goes_on() -> None:
    rejected = replace(
        action("stripe.refund.create", "cancelled"),
        error="rejected by user:maya: refunded by hand in the dashboard",
    )
    decision = decide((*VOIDED_AND_OUT, rejected), refunded=42_000)
    assert (decision.state, kinds(decision)) == ("resolving", AFTER_THE_REFUND)


def test_the_waiting_refund_is_cancelled_once_nothing_else_is_pending() -> None:
    """Cancelling takes every pending action of the case: while the exit is on its way, the
    refund is left (Stripe would refuse it anyway) and the exit's outcome cancels it; the case
    is resolved only with it cancelled."""
    exit_pending = (
        action("netsuite.invoice.void", "applied"),
        action("netsuite.revenue.exit", "proposed"),
        action("stripe.refund.create", "awaiting_approval"),
    )
    first = decide(exit_pending, refunded=42_000)
    assert (first.cancel_pending, kinds(first)) == (None, AFTER_THE_REFUND)
    rest = tuple(
        action(kind, "applied")
        for kind in (
            "netsuite.invoice.void",
            "netsuite.revenue.exit",
            "netsuite.customer_refund.create",
            "email.send",
        )
    )
    last = decide((*rest, action("stripe.refund.create", "awaiting_approval")), refunded=42_000)
    assert last.state == "resolved"
    assert last.cancel_pending == "charge ch_dup was refunded by hand in Stripe (in full, $420.00)"


def test_a_charge_refunded_by_hand_only_in_part_goes_to_the_ar_specialist() -> None:
    """$100.00 of the $420.00 refunded by hand: what that was for is a person's call. The
    case's own refund is cancelled (the rest is not refunded behind her back) and nothing is
    said to the customer."""
    waiting = (*VOIDED_AND_OUT, action("stripe.refund.create", "awaiting_approval"))
    decision = decide(waiting, refunded=10_000)
    assert (decision.state, decision.queue, kinds(decision)) == (
        "needs_person",
        "ar_specialist",
        [],
    )
    assert decision.cancel_pending == (
        "charge ch_dup was refunded by hand in Stripe (in part, $100.00 of $420.00)"
    )
    assert "is the AR specialist's to settle" in decision.explanation
    refused = replace(
        action("stripe.refund.create", "failed"),
        error="Refund amount (42000) is greater than unrefunded amount on charge (32000)",
    )
    after = decide((*VOIDED_AND_OUT, refused), refunded=10_000)
    assert (after.state, after.queue, kinds(after)) == ("needs_person", "ar_specialist", [])


def test_a_charge_found_refunded_in_part_is_voided_but_not_refunded_the_rest() -> None:
    decision = decide(refunded=10_000)
    assert kinds(decision) == ["netsuite.invoice.void", "netsuite.revenue.exit"]
    assert (decision.state, decision.queue) == ("needs_person", "ar_specialist")


class StripeSays:
    """Stripe as the case reads it: the duplicate's charge with its refund re_1 now ``status``,
    carrying the case's duplicate invoice as the case's own refund does (``mark``), and
    ``others``: refunds made by hand in the dashboard."""

    def __init__(self, status: str, *, mark: str | None = "12", others: int = 0) -> None:
        self.status = status
        self.metadata = {"revline_duplicate_invoice": mark} if mark else {}
        self.others = others
        self.reads = 0

    def list_refunds(self, charge_id: str) -> list[Refund]:
        self.reads += 1
        own = Refund("re_1", 42_000, "usd", charge_id, None, "duplicate", self.status, None, AT)
        by_hand = Refund("re_2", self.others, "usd", charge_id, None, None, "succeeded", None, AT)
        return [replace(own, metadata=self.metadata), *([by_hand] if self.others else [])]

    def list_disputes(self, charge_id: str) -> list[Dispute]:
        return []


class NetSuiteSays:
    def customer(self, customer_id: str) -> None:
        return None

    def invoice(self, invoice_id: str) -> Invoice:
        return replace(invoice("12", amount=42_000), status=InvoiceStatus.VOIDED)


def enriched_decision(state: str, actions: tuple[ActionView, ...], stripe: StripeSays) -> Decision:
    """The case's real enrich and decide, on a trigger that is not Stripe's word of the refund
    (the outcome of an action)."""
    case = duplicate_case(state, actions)
    company = Company(people={"ar_specialist": Person(**PRIYA)})
    enrichment = Enrichment(
        SimulatedClock(AT),
        company.calendar(),
        company,
        {"stripe": stripe, "netsuite": NetSuiteSays()},
    )
    playbook = DuplicateInvoiceResolution()
    facts = playbook.enrich(case, Trigger("action", AT), enrichment)
    return playbook.decide(case, facts, POLICY, AT)


def test_a_refund_failed_after_it_succeeded_is_read_again_on_every_decision() -> None:
    """Stripe failed the refund while the apology was on its way (or after the case went to the
    AR specialist): the email's outcome, or any other, does not resolve the case on the refund's
    first answer."""
    sending = (
        *(action(kind, "applied", REFUNDED) for kind in ALL_DONE[:4]),
        action("email.send", "applied"),
    )
    for state in ("resolving", "needs_person"):
        stripe = StripeSays("failed")
        decision = enriched_decision(state, sending, stripe)
        assert stripe.reads == 1
        assert (decision.state, decision.queue) == ("needs_person", "ar_specialist"), state
        assert "Stripe's refund re_1 failed" in decision.explanation
    # Still succeeded: the case resolves, as before.
    assert enriched_decision("resolving", sending, StripeSays("succeeded")).state == "resolved"


def test_the_cases_own_refund_is_never_taken_for_one_made_by_hand() -> None:
    """Stripe shows the charge refunded while the case's own refund is being made, or after
    Stripe made it but its answer was lost (the action back to proposed for its retry): the
    refund carries the case's duplicate invoice, so it is the case's, and its outcome says so.
    A refund without the mark is someone's by hand."""
    for status in ("executing", "proposed", "approved"):
        under_way = (*VOIDED_AND_OUT, action("stripe.refund.create", status))
        decision = enriched_decision("resolving", under_way, StripeSays("succeeded"))
        assert (decision.cancel_pending, kinds(decision)) == (None, []), status
        assert "by hand" not in decision.explanation
    waiting = (*VOIDED_AND_OUT, action("stripe.refund.create", "proposed"))
    by_hand = enriched_decision("resolving", waiting, StripeSays("succeeded", mark=None))
    assert by_hand.cancel_pending == (
        "charge ch_dup was refunded by hand in Stripe (in full, $420.00)"
    )


def test_a_refund_by_hand_beside_the_cases_own_goes_to_the_ar_specialist() -> None:
    """The case's refund went through, and someone also refunded $100.00 of the charge in the
    dashboard: the customer was refunded twice in part, which is a person's to settle."""
    refunded = (*VOIDED_AND_OUT, action("stripe.refund.create", "applied", REFUNDED))
    decision = enriched_decision("resolving", refunded, StripeSays("succeeded", others=10_000))
    assert (decision.state, decision.queue) == ("needs_person", "ar_specialist")
    assert "refunded by hand in Stripe (in part, $100.00 of $420.00)" in decision.explanation


def test_a_disputed_charge_goes_to_the_ar_specialist_and_nothing_more_is_done() -> None:
    """The customer disputed the duplicate's charge: a case with an open dispute goes to a
    person, and a refund beside the dispute would return the money twice. Nothing is proposed,
    what is pending is cancelled, and the case is flagged (any step proposed on it later waits
    for an approval)."""
    for done in ((), (action("netsuite.invoice.void", "applied"),)):
        waiting = (*done, action("stripe.refund.create", "awaiting_approval"))
        for status in ("warning_needs_response", "needs_response", "under_review"):
            decision = decide(waiting, dispute=status)
            assert (decision.state, decision.queue, kinds(decision)) == (
                "needs_person",
                "ar_specialist",
                [],
            )
            assert decision.cancel_pending == "charge ch_dup is disputed"
            assert decision.flags == {"dispute_open": True}
            assert "the AR specialist settles INV-2026-1302" in decision.explanation


def test_a_dispute_the_company_won_lets_the_case_go_on_one_lost_stops_the_refund() -> None:
    """Stripe keeps ``disputed`` on a charge for good; what counts is how the dispute ended.
    Won (or closed without a chargeback): the money is the company's again, and the duplicate
    is refunded as any other. Lost: the money went back through the dispute, and refunding it
    too would pay it twice — the AR specialist settles the rest."""
    for closed in ("won", "warning_closed", "prevented"):
        going_on = decide(dispute=closed)
        assert kinds(going_on) == [
            "netsuite.invoice.void",
            "netsuite.revenue.exit",
            "stripe.refund.create",
        ], closed
    waiting = (action("stripe.refund.create", "awaiting_approval"),)
    lost = decide(waiting, dispute="lost")
    assert (lost.state, lost.queue, kinds(lost)) == ("needs_person", "ar_specialist", [])
    assert lost.cancel_pending == "charge ch_dup went back through its dispute"
    assert lost.explanation.startswith("the cardholder won dispute dp_1 of charge ch_dup")


def test_a_dispute_won_after_the_case_stopped_for_it_refunds_the_duplicate_after_all() -> None:
    """The case saw the dispute open, cancelled its refund and went to the AR specialist,
    looking again each day. The company won: at its next look the refund is proposed again
    (under a key of its own: the first is cancelled for good), the case is resolving again and
    no longer flagged."""
    opened = decide((action("stripe.refund.create", "awaiting_approval"),), dispute="under_review")
    assert opened.next_action_at == AT + timedelta(days=1)
    cancelled = replace(
        action("stripe.refund.create", "cancelled"), error="cancelled: charge ch_dup is disputed"
    )
    steps = (*VOIDED_AND_OUT, cancelled)
    case = duplicate_case("needs_person", steps)
    case = replace(case, flags={"dispute_open": True})
    facts = Facts(
        Trigger("timer", AT),
        {
            "finding": FINDING,
            "duplicate": replace(invoice("12", amount=42_000), status=InvoiceStatus.VOIDED),
            "refunded_by_hand": 0,
            "dispute": {"id": "dp_1", "status": "won"},
            "recipient": KENJI,
            "sender": PRIYA,
            "locale": "en_US",
            "refund_status": None,
        },
    )
    won = DuplicateInvoiceResolution().decide(case, facts, POLICY, AT)
    assert (won.state, [(a.kind, a.attempt) for a in won.actions]) == (
        "resolving",
        [("stripe.refund.create", "after-dp_1")],
    )
    assert won.flags == {"dispute_open": False}


def test_steps_only_shadowed_are_proposed_again_under_their_key_or_a_new_one() -> None:
    """The playbook ran in shadow: its first steps were only recorded. Deciding again proposes
    them again — under the same key while they stand as they were (live, that takes them live);
    a step whose parameters changed since goes under a new key, never the old key with other
    parameters (an idempotency conflict that would stop the case)."""
    shadowed = decide()
    recorded = tuple(
        replace(
            action(spec.kind, "shadowed"),
            idempotency_key=f"duplicate_invoice:{spec.kind}:{spec.subject}:1",
            params=dict(spec.params),
        )
        for spec in shadowed.actions
    )
    again = decide(recorded)
    assert [(a.kind, a.attempt) for a in again.actions] == [(a.kind, 1) for a in shadowed.actions]
    assert again.next_action_at == AT + timedelta(hours=1)  # it looks again within the hour
    # The refund's parameters changed since it was recorded (say, before it carried its case's
    # metadata): proposed under a new key.
    stale = tuple(
        replace(a, params={**a.params, "metadata": {}}) if a.kind == "stripe.refund.create" else a
        for a in recorded
    )
    changed = {a.kind: a.attempt for a in decide(stale).actions}
    assert changed["stripe.refund.create"] == 2
    assert changed["netsuite.invoice.void"] == 1
