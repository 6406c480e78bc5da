"""One payout's bank deposit, composed from its balance transactions. Pure.

Finance books a Stripe payout as one NetSuite deposit: each payment moves its customer payment
out of Undeposited Funds at its gross amount, refunds and adjustments are lines of their own,
and Stripe's processing fees are one expense line on the fee GL (6700-8), never netted into the
payments. The lines sum to the payout to the cent, or the deposit is not posted.

A payment line is the NetSuite customer payment it moves, at NetSuite's amount: a deposit takes
whole payments, so a payment matched within the tolerance tier's drift but recorded for another
amount shows as a variance rather than a deposit NetSuite would refuse.

A payout the bank returned (or Stripe cancelled) gave its money back to the balance with a
``payout_failure`` (``payout_cancel``) balance transaction, and the next payout pays it out
again. That transaction is money coming back, not the later payout's own movement. If NetSuite
never deposited the returned payout, its payments still wait in Undeposited Funds: its own
movements stand in for the ``payout_failure`` (``carried``), so the later deposit moves them out
with their refunds, adjustments and fees. If NetSuite did, the money came back from the bank,
which only a person can book: the deposit is not posted and names the returned payout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from revline.config import Policy
from revline.providers.netsuite.records import CustomerPayment
from revline.providers.stripe.records import BalanceTransaction, Payout

PAYMENT_TYPES = frozenset({"charge", "payment"})
# A refund that failed brings its money back to the balance: a line on the refunds' account too,
# which the failed refund's own line cancels.
REFUND_TYPES = frozenset({"refund", "payment_refund", "refund_failure"})
# The payout's own movement of the balance: it is the deposit, not a line of it.
PAYOUT_TYPES = frozenset({"payout"})
# A returned (failed) or cancelled payout's money back on the balance; its source is that payout.
RETURNED_TYPES = frozenset({"payout_failure", "payout_cancel"})
# Stripe's fees debited from the balance as movements of their own, not withheld from a charge
# (``stripe_fee``: Billing, Radar and the like; ``stripe_fx_fee``: currency conversion;
# ``tax_fee``: the tax on Stripe's fees, reporting category ``fee`` too): fees all the same, on
# the one fee line, never an adjustment.
FEE_TYPES = frozenset({"stripe_fee", "stripe_fx_fee", "tax_fee"})


def fees_of(txn: BalanceTransaction) -> int:
    """The Stripe fees a movement takes from the balance, positive: what a charge or refund
    withheld, or the whole of a fee movement."""
    return txn.fee - txn.amount if txn.type in FEE_TYPES else txn.fee


def payout_fees(transactions: Iterable[BalanceTransaction]) -> int:
    """What Stripe's fees on a payout's movements come to: its deposit's one fee line. The
    payout's own movement and a returned payout's money back carry none of the payout's."""
    return sum(fees_of(t) for t in transactions if t.type not in PAYOUT_TYPES | RETURNED_TYPES)


@dataclass(frozen=True)
class ReturnedPayout:
    """A payout the bank returned (or Stripe cancelled) whose money a later payout pays out
    again: the later payout settles its ``payout_failure`` (``payout_cancel``)."""

    payout: str
    amount: int  # what came back to the balance
    transactions: tuple[BalanceTransaction, ...]  # what it settled; read only if not deposited
    deposits: tuple[str, ...]  # NetSuite's deposits for it: none if it was never deposited

    def params(self) -> dict[str, Any]:
        return {"payout": self.payout, "amount": self.amount, "deposits": list(self.deposits)}


def carried(
    transactions: Sequence[BalanceTransaction],
    returned: Mapping[str, Sequence[BalanceTransaction]],
) -> tuple[BalanceTransaction, ...]:
    """The movements a payout settles, with each returned payout in ``returned`` (its balance
    transactions by payout id) standing in for the ``payout_failure`` (``payout_cancel``) that
    pays its money out again: what it settled, not its own ``payout`` transaction. A returned
    payout may itself have paid out an earlier one's money again. Pure."""
    found: list[BalanceTransaction] = []
    carried_in: set[str] = set()  # each returned payout stands in once

    def add(of: Sequence[BalanceTransaction], standing_in: bool) -> None:
        for txn in of:
            if standing_in and txn.type in PAYOUT_TYPES:
                continue  # the returned payout's own movement, undone by its payout_failure
            source = txn.source or ""
            if txn.type in RETURNED_TYPES and source in returned:
                if source not in carried_in:
                    carried_in.add(source)
                    add(returned[source], True)
                continue
            found.append(txn)

    add(transactions, False)
    return tuple(found)


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
    # Money the bank returned from payouts NetSuite had deposited: no line of this deposit, for
    # a person to book.
    returned: tuple[ReturnedPayout, ...] = ()

    @property
    def lines_total(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def variance(self) -> int:
        """Payout minus the lines and the returned money a person books: zero when the lines
        tie to the cent (and, with nothing returned, the deposit does)."""
        return self.amount - self.lines_total - sum(r.amount for r in self.returned)

    @property
    def postable(self) -> bool:
        return not self.unresolved and not self.returned and self.variance == 0

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
    returned: Mapping[str, ReturnedPayout] | None = None,
) -> DepositPlan:
    """The deposit of ``payout``. ``payments`` maps a payment's balance transaction id to the
    NetSuite customer payment it settles; a payment missing from it is unresolved (an orphan, a
    payment being recorded or a match waiting for a person) and keeps the deposit from being
    posted.

    ``transactions`` are what the deposit carries: the payout's, with the returned payouts
    NetSuite never deposited standing in for their ``payout_failure`` (see ``carried``). A
    ``payout_failure`` still among them is money the bank returned after NetSuite deposited it
    (``returned`` says which deposit): it keeps the deposit from being posted."""
    lines: list[DepositLine] = []
    unresolved: list[str] = []
    kept_out: list[ReturnedPayout] = []
    fees = payout_fees(transactions)
    for txn in sorted(transactions, key=lambda t: (t.created, t.id)):
        if txn.type in PAYOUT_TYPES:
            continue
        if txn.type in RETURNED_TYPES:
            known = (returned or {}).get(txn.source or "")
            kept_out.append(known or ReturnedPayout(str(txn.source), txn.amount, (), ()))
            continue
        if txn.amount == 0 or txn.type in FEE_TYPES:
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
        returned=tuple(kept_out),
    )
