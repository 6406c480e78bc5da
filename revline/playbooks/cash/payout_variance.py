"""A payout whose deposit cannot tie: the work item the variance becomes.

The morning's payout reconciliation posts a deposit only when its lines add up to the payout to
the cent. When every payment is accounted for and they still do not — a customer payment
recorded in NetSuite for another amount than Stripe charged, a balance transaction the payout
settled but Stripe did not list — nothing is posted and the reconciliation flags the payout
(``revline.payout_variance.flag``), which opens this case in the billing analyst's queue with
the figures: the payout, what its lines come to, the variance and the lines. Every morning the
payout is still not deposited flags it again with the figures of the day (and a rerun with other
figures, once the books were corrected in part): the case shows the latest, one case per payout.

A manual payout (made by hand in the Dashboard) is flagged the same way: Stripe lists no balance
transactions for it, so no deposit can be composed, and the case asks for one booked by hand.

A payout that pays out again the money of a payout the bank returned after NetSuite had
deposited it is flagged the same way, with the returned payout and its deposit: the money came
back from the bank, and only a person can book that (the return, then the later payout's deposit
by hand), so the case says so rather than showing a bare variance.

The case decides nothing about the books. It looks for the payout's deposit in NetSuite after
each working morning's run (and whenever a person asks): once one is there — posted by a later
run after the books were corrected, or booked by hand — it is ``resolved``. So it is once Stripe
shows the payout returned by the bank or cancelled: its money never reached the bank account,
there is nothing to deposit for it, and the payout that pays the money out again is deposited
(or flagged) in its turn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from revline.clock import WorkingCalendar
from revline.config import Policy
from revline.core.cases import CaseKind, CaseView
from revline.core.inbox import EventView
from revline.core.playbook import CaseRef, Decision, Enrichment, Facts, Playbook, Trigger
from revline.money import Money
from revline.playbooks.cash.flags import FINDING_SOURCE, PAYOUT_VARIANCE_FLAGGED
from revline.playbooks.cash.returned import RETURNED_STATUSES

# Depositing is the billing analyst's part of the procedure.
QUEUE = "billing_analyst"
# The morning's run posts its deposits within minutes of ``payout_reconciliation_time``; a case
# waiting on the books looks again this long after, so what that morning did is seen.
RECHECK_AFTER_RUN = timedelta(hours=1)

PAYOUT_VARIANCE = CaseKind(
    name="payout_variance",
    initial="open",
    transitions={"open": frozenset({"resolved"})},
    terminal=frozenset({"resolved"}),
)


class PayoutVariance(Playbook):
    name = "payout_variance"
    case_kind = PAYOUT_VARIANCE

    def case_for(self, event: EventView) -> CaseRef | None:
        if event.source != FINDING_SOURCE or event.type != PAYOUT_VARIANCE_FLAGGED:
            return None
        return CaseRef(subject=str(event.payload["payout"]))

    def enrich(self, case: CaseView, trigger: Trigger, enrichment: Enrichment) -> Facts:
        values: dict[str, Any] = {
            "calendar": enrichment.calendar,
            "locale": enrichment.company.locale,
        }
        if trigger.kind in ("timer", "manual"):
            netsuite = enrichment.adapters["netsuite"]
            values["deposits"] = [d.id for d in netsuite.deposits_for_payout(case.subject)]
            values["payout_status"] = enrichment.adapters["stripe"].get_payout(case.subject).status
        return Facts(trigger, values)

    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        trigger = facts.trigger
        if case.state == "resolved":
            return Decision("the payout is deposited; nothing left to do")
        recheck = after_next_morning(facts["calendar"], policy, now)
        if trigger.kind == "event" and trigger.event is not None:
            found = trigger.event.payload
            return Decision(
                _figures(found, case.data.get("variance"), facts["locale"]),
                state="open",
                next_action_at=recheck,
                data={"variance": dict(found)},
                queue=QUEUE,
            )
        # A timer after a morning's run, or a person asking.
        deposits: list[str] = facts["deposits"]
        if deposits:
            return Decision(
                f"NetSuite holds deposit {', '.join(deposits)} for payout {case.subject}: resolved",
                state="resolved",
                next_action_at=None,
                queue=None,
            )
        status = facts.values.get("payout_status")
        if status in RETURNED_STATUSES:
            what = "cancelled in Stripe" if status == "canceled" else "returned by the bank"
            return Decision(
                f"payout {case.subject} was {what}: its money never reached the bank account "
                "and is back in Stripe's balance, so there is nothing to deposit for it; the "
                "payout that pays it out again is deposited in its turn: resolved",
                state="resolved",
                next_action_at=None,
                queue=None,
            )
        return Decision(
            f"payout {case.subject} is still not deposited: looked again at {recheck.isoformat()}",
            next_action_at=recheck,
        )


def _figures(found: Mapping[str, Any], before: Mapping[str, Any] | None, locale: str) -> str:
    """The figures a run found; with how far off the run before found the lines, if not as
    far."""
    currency = str(found["currency"])

    def money(amount: Any) -> str:
        return Money(int(amount), currency).format(locale)

    def gap(variance: int) -> str:
        return f"{money(abs(variance))} {'short of' if variance > 0 else 'over'} the payout"

    if found.get("manual"):
        return (
            f"payout {found['payout']} of {money(found['amount'])} (arrived {found['arrival']}) "
            "was made by hand in Stripe, which does not say what a manual payout settled: "
            "deposit it by hand in NetSuite with the payout id in custbody_stripe_payout_id; "
            "nothing was posted"
        )
    variance = int(found["variance"])
    returned = found.get("returned") or []
    if returned:
        figures = (
            f"payout {found['payout']} of {money(found['amount'])} (arrived {found['arrival']}) "
            f"pays out again {'; '.join(_returned(r, money) for r in returned)}: that money "
            "came back from the bank, which only a person can book; book the return and this "
            "payout's deposit by hand; nothing was posted"
        )
        if variance:
            figures += f" (besides the returned money, its deposit lines are {gap(variance)})"
        return figures
    figures = (
        f"payout {found['payout']} of {money(found['amount'])} (arrived {found['arrival']}) "
        f"does not tie: its deposit lines come to {money(found['lines_total'])}, "
        f"{gap(variance)}; nothing was posted"
    )
    if before is not None and int(before["variance"]) != variance:
        figures += f" (the run before found them {gap(int(before['variance']))})"
    return figures


def _returned(returned: Mapping[str, Any], money: Callable[[Any], str]) -> str:
    deposits = list(returned.get("deposits") or [])
    deposited = (
        f"NetSuite deposit {', '.join(deposits)}" if deposits else "no NetSuite deposit found"
    )
    return (
        f"{money(returned['amount'])} the bank returned from payout {returned['payout']} "
        f"after it was deposited ({deposited})"
    )


def after_next_morning(calendar: WorkingCalendar, policy: Policy, now: datetime) -> datetime:
    """When a case waiting on the books looks again: after the next working morning's run —
    today's, when a person looks before it."""
    return calendar.next_working_at(policy.payout_reconciliation_time, now) + RECHECK_AFTER_RUN
