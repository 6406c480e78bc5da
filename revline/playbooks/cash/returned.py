"""Payouts the bank returned (or Stripe cancelled), followed to what they had settled.

A returned payout's money comes back to the balance with a ``payout_failure`` (``payout_cancel``)
balance transaction naming the payout, and a later payout pays it out again. The returned payout
may itself have paid out an earlier one's money again, so the chain is followed through what
each settled. The daily reconciliation and the month-end tie-out both walk it, each with its own
reading of what a returned payout settled.

The money of a returned payout never reached the bank account, so its deposit must not be
posted: the deposit the daily reconciliation proposed and that is still waiting (held by the
emergency stop, say) is withdrawn as soon as Stripe says the payout failed or was cancelled, and
again by any morning whose payout pays that money out again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from revline.core.inbox import EventView
from revline.core.playbook import Decision, Withdrawal
from revline.money import Money
from revline.playbooks.cash.deposit import RETURNED_TYPES
from revline.providers.netsuite.actions import DEPOSIT_CREATE
from revline.providers.stripe.records import BalanceTransaction, Payout

# Stripe's events for a payout whose money came back to the balance: the bank returned it, or it
# was cancelled before it left; and the statuses Stripe then shows.
RETURNED_EVENTS = frozenset({"payout.failed", "payout.canceled"})
RETURNED_STATUSES = frozenset({"failed", "canceled"})
# The subject of a returned payout's own case: ``payout:<id>`` (a morning's is ``payouts:<date>``).
RETURNED_CASE = "payout:"


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


def itemised(stripe: Any, payout_id: str) -> list[BalanceTransaction]:
    """What a returned payout had settled, as Stripe lists it. A manual payout took money from
    the balance as a whole, settling nothing in particular (Stripe refuses to list it), and its
    return gives the money back the same way: nothing to follow."""
    if not stripe.get_payout(payout_id).automatic:
        return []
    return list(stripe.payout_transactions(payout_id))


def returned_payout_id(event: EventView) -> str | None:
    """The payout a Stripe ``payout.failed`` or ``payout.canceled`` event names, else None."""
    if event.source != "stripe" or event.type not in RETURNED_EVENTS:
        return None
    payout = (event.payload.get("data") or {}).get("object") or {}
    found = payout.get("id")
    return found if isinstance(found, str) and found else None


def returned_case_payout(subject: str, event: EventView | None) -> str | None:
    """The payout a returned payout's case concerns: the one Stripe's event names, else (a
    person asking the case to decide again) its subject's; None for any other case."""
    found = returned_payout_id(event) if event is not None else None
    if found is None and subject.startswith(RETURNED_CASE):
        found = subject.removeprefix(RETURNED_CASE)
    return found


def deposit_withdrawn(payout: str, why: str) -> Withdrawal:
    """The payout's deposit, proposed and not yet posted, withdrawn."""
    return Withdrawal(DEPOSIT_CREATE, payout, why)


def decide_returned(payout: Payout, deposits: Sequence[str], locale: str) -> Decision:
    """A payout the bank returned (or Stripe cancelled): its deposit not yet posted is
    withdrawn. One NetSuite already holds stays: the money came back from the bank, and the
    morning whose payout pays it out again hands the return to a person."""
    amount = Money(payout.amount, payout.currency).format(locale)
    if payout.status not in RETURNED_STATUSES:
        # Acted on as Stripe shows the payout now, not as an event said it was.
        return Decision(
            f"Stripe shows payout {payout.id} of {amount} as {payout.status}, not returned: "
            "nothing is withdrawn; the AR specialist checks why it was said to be",
            state="exceptions",
            queue="ar_specialist",
            data={"returned_payout": {"payout": payout.id, "status": payout.status}},
        )
    what = "cancelled" if payout.status == "canceled" else "returned by the bank"
    returned = {
        "payout": payout.id,
        "amount": payout.amount,
        "currency": payout.currency.upper(),
        "status": payout.status,
        "failure_code": payout.failure_code,
        "netsuite_deposits": list(deposits),
    }
    if deposits:
        explanation = (
            f"payout {payout.id} of {amount} was {what} after NetSuite deposit "
            f"{', '.join(deposits)} booked it; the payout that pays its money out again waits "
            "for a person to book the return"
        )
    elif not payout.automatic:
        # Nothing of Revline's deposits what a manual payout takes (see the morning run).
        explanation = (
            f"payout {payout.id} of {amount}, made by hand, was {what} before it was "
            "deposited: its money is back in the Stripe balance, and whatever pays it out "
            "again is deposited by hand"
        )
    else:
        explanation = (
            f"payout {payout.id} of {amount} was {what} before it was deposited: a deposit "
            "proposed for it and not yet posted is withdrawn, and the payout that pays its money "
            "out again deposits its payments"
        )
    return Decision(
        explanation,
        state="reconciled",
        withdraw=(deposit_withdrawn(payout.id, f"payout {payout.id} was {what}"),),
        data={"returned_payout": returned},
    )
