"""Payouts the bank returned (or Stripe cancelled), followed to what they had settled.

A returned payout's money comes back to the balance with a ``payout_failure`` (``payout_cancel``)
balance transaction naming the payout, and a later payout pays it out again. The returned payout
may itself have paid out an earlier one's money again, so the chain is followed through what
each settled. The daily reconciliation and the month-end tie-out both walk it, each with its own
reading of what a returned payout settled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from revline.playbooks.cash.deposit import RETURNED_TYPES
from revline.providers.stripe.records import BalanceTransaction


@dataclass(frozen=True)
class Returned:
    payout: str
    amount: int  # what came back to the balance
    transactions: tuple[BalanceTransaction, ...]  # what it settled, as ``settled`` read it


def returned_payouts(
    transactions: Sequence[BalanceTransaction],
    settled: Callable[[str], Sequence[BalanceTransaction]],
) -> list[Returned]:
    """Every payout whose money ``transactions`` give back, and each earlier one those paid out
    again in turn, in the order found; ``settled`` reads what a returned payout settled (nothing,
    to stop the walk there)."""
    found: dict[str, Returned] = {}
    waiting = [t for t in transactions if t.type in RETURNED_TYPES and t.source]
    while waiting:
        back = waiting.pop(0)
        payout = str(back.source)
        if payout in found:
            continue
        found[payout] = Returned(payout, back.amount, tuple(settled(payout)))
        waiting += [t for t in found[payout].transactions if t.type in RETURNED_TYPES and t.source]
    return list(found.values())
