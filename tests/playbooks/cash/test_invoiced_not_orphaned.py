"""Steps 4 to 6 of the daily payout reconciliation (docs/playbooks/cash.md): only a payment with
no NetSuite invoice at all is an orphan. A payment whose NetSuite invoice is there but cannot
take it — in another currency, with too little remaining, no longer open, or one of several
invoices carrying its Stripe invoice id — waits for a person like a blocked match: the payout is
``matches_pending``, no investigation opens and nobody writes to the cardholder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

import pytest

from revline.clock import SimulatedClock
from revline.config import Company
from revline.core.playbook import Decision, Enrichment, Trigger
from revline.playbooks.cash.flags import ORPHAN_FLAG
from revline.playbooks.cash.payouts import RECORD_PAYMENT, PayoutReconciliation
from revline.providers.netsuite.records import (
    Customer,
    CustomerPayment,
    Deposit,
    Invoice,
    InvoiceStatus,
)
from revline.providers.stripe.records import BalanceTransaction, Charge, Payout
from tests.playbooks.cash.test_payouts import AT, POLICY, charge, ns_invoice, payout, txn
from tests.support.cases import case_view

MORNING = date(2026, 12, 3)


def invoice(
    id_: str,
    number: str,
    remaining: int,
    currency: str = "USD",
    status: InvoiceStatus = InvoiceStatus.OPEN,
) -> Invoice:
    """A NetSuite invoice carrying Stripe invoice ``in_2``, the one the payment paid."""
    return replace(
        ns_invoice(id_, number, 42_000, date(2026, 12, 1)),
        currency=currency,
        status=status,
        amount_remaining=remaining,
        stripe_invoice_id="in_2",
    )


@dataclass
class FakeStripe:
    """One payout, arrived on 2 December, settling Acme's $420.00 payment of Stripe invoice
    ``in_2``."""

    transactions: Sequence[BalanceTransaction]
    charge: Charge

    def list_payouts(self, **_: object) -> list[Payout]:
        return [payout(self.transactions)]

    def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        return list(self.transactions)

    def get_charge(self, charge_id: str) -> Charge:
        assert charge_id == self.charge.id
        return self.charge


@dataclass
class FakeNetSuite:
    """The books: no customer payment for the charge (the connector missed it), and the
    invoices carrying its Stripe invoice id."""

    carrying: Sequence[Invoice]

    def deposits_for_payout(self, payout_id: str) -> list[Deposit]:
        return []

    def undeposited_payments(self) -> list[CustomerPayment]:
        return []

    def customers(self, ids: object) -> list[Customer]:
        return []

    def invoices(self, ids: object) -> list[Invoice]:
        return []

    def invoices_by_stripe_invoice(self, stripe_invoice_id: str) -> list[Invoice]:
        return list(self.carrying) if stripe_invoice_id == "in_2" else []

    def customer_invoices(self, customers: object, since: date) -> list[Invoice]:
        return []

    def customer_payments_applied_to(self, invoices: object) -> list[CustomerPayment]:
        return []

    def voided_payments_by_charge(self, stripe_charge_id: str) -> list[str]:
        return []


def morning(carrying: Sequence[Invoice], company: Company | None = None) -> Decision:
    """The morning of 3 December, read from the fake providers and decided."""
    transactions = [txn(2, "charge", 42_000, 1_248)]
    company = company or Company()
    enrichment = Enrichment(
        clock=SimulatedClock(AT),
        calendar=company.calendar(),
        company=company,
        adapters={
            "stripe": FakeStripe(transactions, charge("ch_2", 42_000, "cus_acme", "in_2")),
            "netsuite": FakeNetSuite(carrying),
        },
    )
    case = case_view("payout_reconciliation", f"payouts:{MORNING.isoformat()}", "open", AT)
    playbook = PayoutReconciliation()
    # A person's rerun of the morning: the business date is the case's.
    facts = playbook.enrich(case, Trigger("manual", AT), enrichment)
    return playbook.decide(case, facts, POLICY, AT)


@pytest.mark.parametrize(
    ("case", "carrying", "named"),
    [
        (
            "its invoice is in another currency",
            [invoice("12", "INV-EUR-1", 42_000, currency="EUR")],
            ["INV-EUR-1", "in EUR", "the payment in USD"],
        ),
        (
            "its invoice has too little remaining",
            [invoice("12", "INV-2026-1302", 40_000)],
            ["INV-2026-1302", "$400.00 remaining", "$420.00"],
        ),
        (
            "its invoice is already paid in full",
            [invoice("12", "INV-2026-1302", 0, status=InvoiceStatus.PAID_IN_FULL)],
            ["INV-2026-1302", "paid in full", "none is open"],
        ),
        (
            "two open invoices carry its Stripe invoice id",
            [invoice("12", "INV-2026-1302", 42_000), invoice("13", "INV-2026-1303", 42_000)],
            ["INV-2026-1302", "INV-2026-1303", "2 open NetSuite invoices"],
        ),
    ],
)
def test_a_payment_whose_invoice_cannot_take_it_waits_for_a_person_and_is_no_orphan(
    case: str, carrying: list[Invoice], named: list[str]
) -> None:
    decision = morning(carrying)
    # No orphan flag (no investigation, no email to the cardholder) and nothing recorded.
    assert [a.kind for a in decision.actions] == [], case
    (summary,) = decision.data["payouts"]
    assert summary["status"] == "matches_pending", case
    assert summary["unresolved"] == ["txn_2"]
    (match,) = summary["matches"]
    assert match["status"] == "unmatched"
    for words in named:
        assert words in match["reason"], (case, match["reason"])
    # The payout waits in the AR specialist's queue, as for a blocked match.
    assert (decision.state, decision.queue) == ("exceptions", "ar_specialist")


def test_what_a_person_reads_is_in_the_company_s_locale() -> None:
    decision = morning([invoice("12", "INV-2026-1302", 40_000)], Company(locale="de_DE"))
    (summary,) = decision.data["payouts"]
    (match,) = summary["matches"]
    assert "has 400,00\xa0$ remaining, less than the payment's 420,00\xa0$" in match["reason"]


def test_a_payment_with_no_netsuite_invoice_at_all_is_still_an_orphan() -> None:
    decision = morning([])
    assert [a.kind for a in decision.actions] == [ORPHAN_FLAG]
    (summary,) = decision.data["payouts"]
    assert summary["status"] == "orphans_pending"


def test_a_payment_whose_one_open_invoice_takes_it_is_recorded_on_the_payout_s_arrival_day() -> (
    None
):
    decision = morning(
        [
            invoice("12", "INV-2026-1302", 42_000),
            invoice("11", "INV-2026-1301", 0, status=InvoiceStatus.PAID_IN_FULL),
        ]
    )
    (record,) = decision.actions
    assert (record.kind, record.subject) == (RECORD_PAYMENT, "ch_2")
    # Dated the day the payout reached the bank, the day its deposit is dated: recorded later,
    # it would leave Undeposited Funds before it entered them.
    assert record.params == {
        "invoice": "12",
        "charge": "ch_2",
        "amount": 42_000,
        "currency": "USD",
        "date": "2026-12-02",
    }
    assert record.attempt == "2026-12-02"
    (summary,) = decision.data["payouts"]
    assert summary["status"] == "recording_payments"
