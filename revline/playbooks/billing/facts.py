"""What a failed-payment decision is made on: what happened (the signal) and the account as the
providers hold it now (Stripe's invoice and customer, NetSuite's customer record and MRR).

The signal is read from the trigger without any I/O; the account is gathered by the playbook's
``enrich`` outside any transaction. Decisions see these records only, so a rule's test is a table
of signals and accounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from revline.core.playbook import Trigger

SignalKind = Literal["payment_failed", "invoice_paid", "outcome", "promise", "timer", "other"]


@dataclass(frozen=True)
class Signal:
    """Why the decision is being made, in the playbook's words."""

    kind: SignalKind
    at: datetime
    attempt_count: int = 0  # Stripe's attempt count on the invoice, for invoice events
    next_payment_attempt: datetime | None = None  # when Stripe would retry by itself
    action_kind: str | None = None
    action_status: str | None = None  # applied | failed
    params: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    promised_date: date | None = None
    actor: str | None = None


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    first_name: str | None = None


@dataclass(frozen=True)
class Account:
    """The invoice and its customer as Stripe and NetSuite hold them at decision time."""

    invoice: str
    invoice_number: str | None
    invoice_status: str  # open | paid | void | uncollectible
    amount_due: int
    currency: str
    attempt_count: int
    subscription: str | None
    stripe_customer: str
    last_failure_code: str | None = None
    last_decline_code: str | None = None
    dispute_open: bool = False
    dunning_suppressed: bool = False  # Stripe's automated dunning is off for the customer
    card_on_file: str | None = None  # the customer's default payment method
    settled_on: date | None = None  # the day the paying charge settled (paid invoices only)
    other_failed_invoices: tuple[str, ...] = ()  # the customer's other subscription invoices
    # in dunning (open, failed)
    recognition_held: bool = False  # paid invoices only: a revenue plan of the customer on hold
    # Failed charges on the subscription's unpaid invoices, this one included (rule 4).
    subscription_failures: int = 0
    netsuite_customer: str | None = None
    customer_name: str | None = None
    mrr: int = 0  # trailing three-month average, minor units of ``mrr_currency``
    mrr_currency: str | None = None
    # Why the MRR could not be read (no NetSuite customer, invoiced in several currencies).
    mrr_unknown: str | None = None
    ap_contact: Person | None = None
    relationship_owner: Person | None = None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) and value else None


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def read_signal(trigger: Trigger) -> Signal:
    """The trigger as a signal: no I/O, so it can be called from ``case_for`` and tests."""
    event = trigger.event
    if trigger.kind == "timer":
        return Signal("timer", trigger.at)
    if trigger.kind == "manual":
        detail = trigger.detail
        return Signal(
            "promise" if "promised_date" in detail else "other",
            trigger.at,
            promised_date=_date(detail.get("promised_date")),
            actor=str(detail.get("actor")) if detail.get("actor") else None,
        )
    if event is None:
        return Signal("other", trigger.at)
    at = event.occurred_at or trigger.at
    payload = event.payload
    if trigger.kind == "action":
        result = payload.get("result")
        params = payload.get("params")
        return Signal(
            "outcome",
            at,
            action_kind=str(payload.get("kind")),
            action_status=str(payload.get("status")),
            params=params if isinstance(params, Mapping) else {},
            result=result if isinstance(result, Mapping) else {},
            error=payload.get("error") if isinstance(payload.get("error"), str) else None,
        )
    if event.type == "customer.replied":
        return Signal(
            "promise",
            at,
            promised_date=_date(payload.get("promised_date")),
            actor="customer reply",
        )
    obj = (payload.get("data") or {}).get("object") or {}
    kinds: dict[str, SignalKind] = {
        "invoice.payment_failed": "payment_failed",
        "invoice.paid": "invoice_paid",
    }
    return Signal(
        kinds.get(event.type, "other"),
        at,
        attempt_count=_int(obj.get("attempt_count")),
        next_payment_attempt=_time(obj.get("next_payment_attempt")),
    )
