"""One payout's bank deposit, composed from its balance transactions. Pure.

Finance books a Stripe payout as one NetSuite deposit: each payment moves its customer payment
out of Undeposited Funds at its gross amount, refunds and adjustments are lines of their own,
and Stripe's processing fees are one expense line on the fee GL (6700-8), never netted into the
payments. The lines sum to the payout to the cent, or the deposit is not posted.

A payment line is the NetSuite customer payment it moves, at NetSuite's amount: a deposit takes
whole payments, so a payment matched within the tolerance tier's drift but recorded for another
amount shows as a variance rather than a deposit NetSuite would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from revline.config import Policy
from revline.providers.netsuite.records import CustomerPayment
from revline.providers.stripe.records import BalanceTransaction, Payout

PAYMENT_TYPES = frozenset({"charge", "payment"})
REFUND_TYPES = frozenset({"refund", "payment_refund"})
# The payout's own movement of the balance: it is the deposit, not a line of it.
PAYOUT_TYPES = frozenset({"payout", "payout_cancel", "payout_failure"})


@dataclass(frozen=True)
class DepositLine:
    """A signed line: positive adds to the deposit."""

    type: str  # payment | refund | fee | adjustment
    amount: int
    account: str | None = None
    reference: str | None = None

    def params(self) -> dict[str, Any]:
        line: dict[str, Any] = {"type": self.type, "amount": self.amount}
        if self.account:
            line["account"] = self.account
        if self.reference:
            line["reference"] = self.reference
        return line


@dataclass(frozen=True)
class DepositPlan:
    """What the payout's deposit would be, and what stops it from being posted."""

    payout: str
    amount: int
    currency: str
    lines: tuple[DepositLine, ...]
    fees: int  # the sum of the payout's fees, positive
    unresolved: tuple[str, ...]  # balance transactions of payments with no NetSuite payment

    @property
    def lines_total(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def variance(self) -> int:
        """Payout minus the lines: zero when the deposit ties to the cent."""
        return self.amount - self.lines_total

    @property
    def postable(self) -> bool:
        return not self.unresolved and self.variance == 0

    def params(self, deposit_date: str) -> dict[str, Any]:
        """The ``netsuite.deposit.create`` parameters."""
        return {
            "payout": self.payout,
            "amount": self.amount,
            "currency": self.currency,
            "date": deposit_date,
            "lines": [line.params() for line in self.lines],
        }


def compose(
    payout: Payout,
    transactions: Sequence[BalanceTransaction],
    payments: Mapping[str, CustomerPayment],
    policy: Policy,
) -> DepositPlan:
    """The deposit of ``payout``. ``payments`` maps a payment's balance transaction id to the
    NetSuite customer payment it settles; a payment missing from it is unresolved (an orphan, a
    payment being recorded or a match waiting for a person) and keeps the deposit from being
    posted."""
    lines: list[DepositLine] = []
    unresolved: list[str] = []
    fees = 0
    for txn in sorted(transactions, key=lambda t: (t.created, t.id)):
        if txn.type in PAYOUT_TYPES:
            continue
        fees += txn.fee
        if txn.amount == 0:
            continue
        if txn.type in PAYMENT_TYPES:
            payment = payments.get(txn.id)
            if payment is None:
                unresolved.append(txn.id)
                continue
            lines.append(DepositLine("payment", payment.amount, reference=payment.id))
        elif txn.type in REFUND_TYPES:
            lines.append(DepositLine("refund", txn.amount, policy.refunds_gl, txn.source))
        else:
            lines.append(
                DepositLine("adjustment", txn.amount, policy.stripe_adjustments_gl, txn.source)
            )
    if fees:
        lines.append(
            DepositLine("fee", -fees, policy.processing_fee_gl, f"Stripe fees {payout.id}")
        )
    return DepositPlan(
        payout=payout.id,
        amount=payout.amount,
        currency=payout.currency.upper(),
        lines=tuple(lines),
        fees=fees,
        unresolved=tuple(unresolved),
    )
