"""Stripe's typed records as the adapter returns them, built for playbook unit tests: a
succeeded card charge and an available balance transaction, with only what a test cares about
given."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from revline.providers.stripe.records import (
    PAYMENTS_BALANCE,
    BalanceTransaction,
    Charge,
    ChargeOutcome,
)

AUTHORIZED = ChargeOutcome("authorized", None, "approved_by_network", None, None)


def succeeded_charge(
    id: str,
    amount: int,
    created: datetime,
    *,
    customer: str | None = None,
    billing_email: str | None = None,
    billing_name: str | None = None,
    amount_refunded: int = 0,
    invoice: str | None = None,
) -> Charge:
    """A card charge that succeeded (fully refunded once ``amount_refunded`` reaches it)."""
    return Charge(
        id=id,
        amount=amount,
        amount_refunded=amount_refunded,
        currency="usd",
        status="succeeded",
        paid=True,
        refunded=amount_refunded >= amount,
        disputed=False,
        failure_code=None,
        failure_message=None,
        decline_code=None,
        outcome=AUTHORIZED,
        customer=customer,
        billing_email=billing_email,
        billing_name=billing_name,
        receipt_email=None,
        payment_intent=None,
        balance_transaction=None,
        description=None,
        created=created,
        invoice=invoice,
    )


def balance_transaction(
    id: str, kind: str, amount: int, at: datetime, *, fee: int = 0, source: str | None = None
) -> BalanceTransaction:
    """An available USD balance transaction; ``kind`` is both its type and its reporting
    category, ``net`` is amount less fee."""
    return BalanceTransaction(
        id=id,
        amount=amount,
        fee=fee,
        fee_details=(),
        net=amount - fee,
        currency="usd",
        type=kind,
        reporting_category=kind,
        source=source,
        status="available",
        available_on=at,
        created=at,
        description=None,
    )


def payments_balance(transactions: Iterable[BalanceTransaction], currency: str) -> int:
    """Stripe's payments balance when ``transactions`` are every movement there was: the net
    of those that move it, in ``currency`` (what a test double's ``balance_at`` answers)."""
    return sum(
        t.net for t in transactions if t.currency == currency and t.balance_type == PAYMENTS_BALANCE
    )
