"""The customers a close lists with recognition held, each with the dunning cases behind it.

The tie-out reads the holds from NetSuite; the dunning context (tier, attempts, since when) is in
Revline's billing cases. A customer may be in dunning on several invoices at once: every open or
exhausted case is listed, oldest first, and the hold dates from the earliest. The report of a
close still open reads the context when asked; the sign-off keeps it as it was when the month was
signed, so a signed report does not change when a customer pays afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from revline.playbooks.billing.dunning import DunningEntry, in_dunning
from revline.playbooks.cash.tieout import HeldRecognition


class DunningCase(BaseModel):
    """One failed-payment case of a held customer, as it stood."""

    case_id: str
    invoice: str
    tier: str | None
    state: str
    manual_attempts: int
    max_manual_attempts: int
    held_since: datetime | None


class HeldCustomer(BaseModel):
    """A customer NetSuite holds recognition for, with the dunning cases behind the hold."""

    customer: str
    netsuite_customer_id: str
    stripe_customer_id: str | None
    plans: list[str]
    held_amount: int
    currency: str
    held_since: datetime | None  # the earliest hold among its cases
    dunning: list[DunningCase]  # oldest first; none: NetSuite holds it, no case of Revline's


def held_customers(
    session: Session, holds: Sequence[HeldRecognition], max_manual_attempts: int
) -> list[HeldCustomer]:
    """Each hold with the customer's open and exhausted dunning cases, read now."""
    cases: dict[str, list[DunningEntry]] = defaultdict(list)
    for entry in in_dunning(session, max_manual_attempts):  # oldest first
        if entry.customer:
            cases[entry.customer].append(entry)
    held = []
    for hold in holds:
        dunning = [
            DunningCase(
                case_id=entry.case_id,
                invoice=entry.invoice,
                tier=entry.tier,
                state=entry.state,
                manual_attempts=entry.manual_attempts,
                max_manual_attempts=entry.max_manual_attempts,
                held_since=entry.recognition_held_since,
            )
            for entry in cases.get(hold.stripe_customer_id or "", [])
        ]
        held.append(
            HeldCustomer(
                customer=hold.customer,
                netsuite_customer_id=hold.customer_id,
                stripe_customer_id=hold.stripe_customer_id,
                plans=hold.plans,
                held_amount=hold.amount,
                currency=hold.currency,
                held_since=min(
                    (case.held_since for case in dunning if case.held_since), default=None
                ),
                dunning=dunning,
            )
        )
    return held
