"""What Revline reads from NetSuite, in the finance team's words.

Frozen records built by the adapter from SuiteQL rows and REST records; playbooks see these,
never NetSuite's JSON. Amounts are integer minor units with the ISO currency beside them
(``money`` gives a ``Money``). The NetSuite field each attribute comes from is named in the
comment after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from revline.money import Money

ACCOUNTS_PAYABLE_ROLE = "Accounts Payable"


@dataclass(frozen=True)
class Person:
    """An employee named on a record, such as the customer's relationship owner."""

    name: str
    email: str | None


@dataclass(frozen=True)
class Contact:
    """A contact under the customer's Contacts subtab."""

    id: str
    first_name: str
    last_name: str
    email: str | None
    role: str | None  # the contact role on the customer, e.g. "Accounts Payable"
    accounts_payable: bool  # custentity_revline_ap_contact is set, or the role is Accounts Payable

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class Customer:
    id: str  # internal id
    entity_id: str  # entityid: the customer's name/number in lists
    company_name: str | None  # companyname
    email: str | None
    stripe_customer_id: str | None  # custentity_stripe_customer_id
    currency: str | None  # the customer's primary currency (ISO code)
    relationship_owner: Person | None  # salesrep
    contacts: tuple[Contact, ...] = ()

    @property
    def name(self) -> str:
        return self.company_name or self.entity_id

    @property
    def accounts_payable_contact(self) -> Contact | None:
        """The named accounts payable contact (the first, by internal id, if several)."""
        return next((c for c in self.contacts if c.accounts_payable), None)


class InvoiceStatus(StrEnum):
    OPEN = "open"  # A
    PAID_IN_FULL = "paid_in_full"  # B
    PENDING_APPROVAL = "pending_approval"  # D
    REJECTED = "rejected"  # E
    VOIDED = "voided"  # V, or the voided flag

    @classmethod
    def of(cls, code: str | None, voided: bool) -> InvoiceStatus:
        """From ``transaction.status`` (a letter) and ``transaction.voided``."""
        if voided:
            return cls.VOIDED
        by_code = {
            "A": cls.OPEN,
            "B": cls.PAID_IN_FULL,
            "D": cls.PENDING_APPROVAL,
            "E": cls.REJECTED,
            "V": cls.VOIDED,
        }
        if code not in by_code:
            raise ValueError(f"unknown invoice status code {code!r}")
        return by_code[code]


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str  # tranid, e.g. INV-2026-1201
    customer_id: str  # entity
    amount: int  # foreigntotal, minor units
    amount_remaining: int  # foreignamountunpaid
    currency: str
    status: InvoiceStatus
    date: date  # trandate
    stripe_invoice_id: str | None  # custbody_stripe_invoice_id
    stripe_charge_id: str | None  # custbody_stripe_charge_id
    stripe_subscription_id: str | None  # custbody_stripe_subscription_id
    memo: str | None

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


@dataclass(frozen=True)
class CustomerPayment:
    id: str
    number: str | None  # tranid
    customer_id: str  # entity
    amount: int  # foreigntotal
    currency: str
    undeposited: bool  # status B "Not Deposited": still sitting in Undeposited Funds
    date: date
    applied_invoices: tuple[str, ...]  # invoice internal ids the payment is applied to
    stripe_charge_id: str | None  # custbody_stripe_charge_id

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)

    @property
    def sole_invoice(self) -> str | None:
        """The invoice a payment applied to one invoice paid; one applied to several names no
        single one (and so no single Stripe invoice)."""
        return self.applied_invoices[0] if len(self.applied_invoices) == 1 else None


DepositSublist = Literal["payment", "other", "cashback"]


@dataclass(frozen=True)
class DepositLine:
    """One line of a bank deposit.

    ``amount`` is signed as the line moves the deposit total: payments and other deposits add,
    cash-back lines (Stripe's fees, refunds) subtract.
    """

    sublist: DepositSublist
    amount: int
    account_number: str | None  # the GL account of an other/cash-back line, e.g. 6700-8
    payment_id: str | None  # the customer payment moved out of Undeposited Funds
    memo: str | None


@dataclass(frozen=True)
class Deposit:
    id: str
    number: str | None  # tranid
    bank_account_number: str | None  # account
    date: date
    total: int
    currency: str
    memo: str | None
    stripe_payout_id: str | None  # custbody_stripe_payout_id
    idempotency_key: str | None  # custbody_revline_idempotency_key
    lines: tuple[DepositLine, ...]

    @property
    def money(self) -> Money:
        return Money(self.total, self.currency)


@dataclass(frozen=True)
class CreditMemo:
    id: str
    number: str | None
    customer_id: str
    amount: int  # the credit, positive (NetSuite reports the total negative)
    currency: str
    date: date
    invoice_id: str | None  # createdfrom
    memo: str | None


@dataclass(frozen=True)
class CustomerMessage:
    """An entry on the customer record's timeline (Communication subtab)."""

    id: str
    customer_id: str
    sent_at: datetime  # messagedate, UTC
    author: str | None  # authoremail
    recipient: str | None  # recipientemail
    cc: tuple[str, ...]
    subject: str
    summary: str | None  # message


class RevenuePlanStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"


@dataclass(frozen=True)
class RevenuePlan:
    id: str
    number: str | None  # recordnumber
    customer_id: str  # the revenue element's entity
    invoice_id: str | None  # the revenue element's source transaction
    amount: int
    currency: str
    on_hold: bool  # is_hold_rev_rec: "Hold Revenue Recognition"
    hold_reason: str | None  # custrecord_revline_hold_reason, e.g. "dunning"
    status: RevenuePlanStatus


@dataclass(frozen=True)
class CustomerEmail:
    """One email address on file for a customer: its own, or one of its contacts'."""

    customer_id: str
    customer_name: str
    email: str
    source: Literal["customer", "contact"]


@dataclass(frozen=True)
class TrailingMrr:
    """Monthly recurring revenue as the trailing three-month average of invoiced amounts.

    ``total`` is the sum of the customer's non-voided invoices dated in the three full calendar
    months before ``as_of``'s month (``window_start`` inclusive, ``window_end`` exclusive);
    ``amount`` is ``total / 3`` rounded half-even to a whole minor unit.
    """

    customer_id: str
    as_of: date
    window_start: date
    window_end: date
    total: int
    amount: int
    currency: str
    invoices: int

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


@dataclass(frozen=True)
class AccountingPeriod:
    """A base (monthly) accounting period and what it still takes."""

    id: str
    name: str  # periodname, e.g. Nov 2026
    start: date
    end: date
    closed: bool
    ar_locked: bool  # Lock A/R: no new invoices, payments or credit memos
    all_locked: bool

    def takes(self, *, receivable: bool) -> bool:
        """Whether a new transaction may be dated in it (a receivable one: an A/R one)."""
        return not (self.closed or self.all_locked or (receivable and self.ar_locked))


@dataclass(frozen=True)
class Account:
    """A general-ledger account."""

    id: str
    number: str | None  # acctnumber, e.g. 6700-8
    name: str  # fullname
    type: str  # accttype: Bank, UnDepFunds, Expense, Income, AcctRec, …
    currency_id: str | None = None  # the currency of the funds in a bank account
    inactive: bool = False  # NetSuite takes no new postings to an inactive account
