"""Daily payout reconciliation: each working morning, yesterday's payouts become deposits.

For every Stripe payout that arrived since the last working day (and any within the look-back
that is still not deposited), its balance transactions are matched to the customer payments
waiting in NetSuite's Undeposited Funds, and one deposit is proposed per payout, keyed by the
payout id so a second run posts nothing twice. A payment with no NetSuite record is flagged as
an orphan the same morning and its payout waits: nothing goes to a suspense account. A payout
whose lines do not tie to the cent is not posted; the variance stays on the case for a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from revline.config import Policy
from revline.core.cases import CaseKind, CaseView
from revline.core.inbox import EventView
from revline.core.playbook import (
    ActionSpec,
    CaseRef,
    Decision,
    Enrichment,
    Facts,
    Playbook,
    Trigger,
)
from revline.core.scheduler import SCHEDULE_SOURCE, DailyAt
from revline.playbooks.cash.deposit import PAYMENT_TYPES, DepositPlan, compose
from revline.playbooks.cash.flags import ORPHAN_FLAG
from revline.providers.netsuite.records import CustomerPayment
from revline.providers.stripe.records import BalanceTransaction, Charge, Payout
from revline.reconcile import Entry, MatchReport, MatchRules, MatchStatus, match

SCHEDULE = "payout_reconciliation"
# Enrichment reads this far back; the policy's ``payout_lookback_days`` (at most this) decides.
MAX_LOOKBACK_DAYS = 31

PAYOUT_RECONCILIATION = CaseKind(
    name="payout_reconciliation",
    initial="open",
    transitions={
        "open": frozenset({"reconciled", "exceptions"}),
        "exceptions": frozenset({"reconciled"}),
    },
    terminal=frozenset({"reconciled"}),
)


@dataclass(frozen=True)
class SettledPayout:
    """A paid payout with what it settled, as read from Stripe and NetSuite."""

    payout: Payout
    transactions: tuple[BalanceTransaction, ...]
    charges: dict[str, Charge]  # by charge id: the payer's email and Stripe customer
    deposited: bool  # NetSuite already holds a deposit for it
    arrived_on: date  # the business date the bank received it: the deposit's date


@dataclass(frozen=True)
class PayoutResult:
    """One payout's reconciliation: the match report and the deposit it allows."""

    payout: SettledPayout
    report: MatchReport
    plan: DepositPlan


def payment_entries(settled: SettledPayout) -> list[Entry]:
    """The payout's payments as the matching engine's left side."""
    entries = []
    for txn in settled.transactions:
        if txn.type not in PAYMENT_TYPES or txn.source is None:
            continue
        charge = settled.charges.get(txn.source)
        entries.append(
            Entry(
                id=txn.id,
                amount=txn.amount,
                currency=txn.currency,
                day=txn.created.date(),
                charge_id=txn.source,
                invoice_id=charge.invoice if charge else None,
                customer=charge.customer if charge else None,
                email=(charge.billing_email or charge.receipt_email) if charge else None,
                reference=charge.description if charge else None,
            )
        )
    return entries


def undeposited_entries(payments: list[CustomerPayment]) -> list[Entry]:
    """NetSuite's customer payments in Undeposited Funds as the right side."""
    return [
        Entry(
            id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            day=payment.date,
            charge_id=payment.stripe_charge_id,
            reference=payment.number,
        )
        for payment in payments
    ]


def reconcile(
    settled: SettledPayout, payments: list[CustomerPayment], policy: Policy
) -> PayoutResult:
    """Match one payout's payments and compose its deposit. Pure."""
    rules = MatchRules(
        amount_drift=policy.match_amount_drift, date_window_days=policy.match_date_window_days
    )
    report = match(payment_entries(settled), undeposited_entries(payments), rules)
    matched = {
        m.left: m.rights[0]
        for m in report.matches
        if m.status is MatchStatus.MATCHED and len(m.rights) == 1
    }
    plan = compose(settled.payout, settled.transactions, matched, policy)
    return PayoutResult(settled, report, plan)


class PayoutReconciliation(Playbook):
    """Each working day at ``payout_reconciliation_time``: one case per business date."""

    name = "payout_reconciliation"
    case_kind = PAYOUT_RECONCILIATION

    def schedules(self, policy: Policy) -> list[DailyAt]:
        return [DailyAt(SCHEDULE, policy.payout_reconciliation_time)]

    def case_for(self, event: EventView) -> CaseRef | None:
        if event.source != SCHEDULE_SOURCE or event.type != f"schedule.{SCHEDULE}":
            return None
        return CaseRef(subject=f"payouts:{event.payload['business_date']}")

    def enrich(self, case: CaseView, trigger: Trigger, enrichment: Enrichment) -> Facts:
        if trigger.kind not in ("event", "manual"):
            return Facts(trigger)
        stripe = enrichment.adapters["stripe"]
        netsuite = enrichment.adapters["netsuite"]
        calendar = enrichment.calendar
        today = business_date_of(case, trigger)
        since = today - timedelta(days=MAX_LOOKBACK_DAYS)
        payouts = stripe.list_payouts(
            arrival_from=calendar.at_local(since, datetime.min.time()),
            arrival_until=calendar.at_local(today, datetime.min.time()) - timedelta(seconds=1),
            status="paid",
        )
        settled = []
        for payout in sorted(payouts, key=lambda p: (p.arrival_date, p.id)):
            transactions = tuple(stripe.payout_transactions(payout.id))
            deposited = bool(netsuite.deposits_for_payout(payout.id))
            charges = {}
            if not deposited:
                for txn in transactions:
                    if txn.type in PAYMENT_TYPES and txn.source:
                        charges[txn.source] = stripe.get_charge(txn.source)
            arrived_on = calendar.business_date(payout.arrival_date)
            settled.append(SettledPayout(payout, transactions, charges, deposited, arrived_on))
        return Facts(
            trigger,
            {
                "business_date": today,
                "payouts": settled,
                "undeposited": list(netsuite.undeposited_payments()),
            },
        )

    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        if "business_date" not in facts.values:
            return Decision("nothing to do outside the morning run or a person's rerun")
        today: date = facts["business_date"]
        actions: list[ActionSpec] = []
        summary: list[dict[str, Any]] = []
        exceptions = 0
        oldest = today - timedelta(days=policy.payout_lookback_days)
        for settled in facts["payouts"]:
            payout = settled.payout
            if settled.arrived_on < oldest:
                continue
            if settled.deposited:
                summary.append({"payout": payout.id, "status": "already_deposited"})
                continue
            result = reconcile(settled, facts["undeposited"], policy)
            plan = result.plan
            orphans = [m for m in result.report.matches if m.status is MatchStatus.UNMATCHED]
            for orphan in orphans:
                actions.append(_orphan_flag(settled, orphan.left))
            if plan.postable:
                actions.append(
                    ActionSpec(
                        "netsuite.deposit.create",
                        subject=payout.id,
                        params=plan.params(settled.arrived_on.isoformat()),
                    )
                )
                status = "deposit_proposed"
            else:
                exceptions += 1
                status = "orphans_pending" if orphans else "variance"
            summary.append(
                {
                    "payout": payout.id,
                    "amount": payout.amount,
                    "currency": plan.currency,
                    "status": status,
                    "fees": plan.fees,
                    "variance": plan.variance if not plan.unresolved else None,
                    "unresolved": list(plan.unresolved),
                    "matches": [
                        {
                            "transaction": m.left,
                            "status": m.status.value,
                            "netsuite": list(m.rights),
                            "tier": m.tier.value if m.tier else None,
                            "reason": m.reason,
                        }
                        for m in result.report.matches
                    ],
                }
            )
        deposits = sum(1 for a in actions if a.kind == "netsuite.deposit.create")
        flagged = len(actions) - deposits
        explanation = (
            f"{len(summary)} payout(s) for {today.isoformat()}: {deposits} deposit(s) proposed, "
            f"{flagged} orphan payment(s) flagged, {exceptions} payout(s) held for a person"
        )
        return Decision(
            explanation,
            state="exceptions" if exceptions else "reconciled",
            actions=tuple(actions),
            data={"business_date": today.isoformat(), "payouts": summary},
            queue="ar_specialist" if exceptions else None,
        )


def business_date_of(case: CaseView, trigger: Trigger) -> date:
    """The morning's date: from the schedule event, else (a person's rerun) the case's."""
    if trigger.event is not None:
        return date.fromisoformat(str(trigger.event.payload["business_date"]))
    return date.fromisoformat(case.subject.removeprefix("payouts:"))


def _orphan_flag(settled: SettledPayout, txn_id: str) -> ActionSpec:
    txn = next(t for t in settled.transactions if t.id == txn_id)
    charge = settled.charges.get(txn.source or "")
    return ActionSpec(
        ORPHAN_FLAG,
        subject=str(txn.source),
        params={
            "charge": txn.source,
            "payout": settled.payout.id,
            "balance_transaction": txn.id,
            "amount": txn.amount,
            "currency": txn.currency,
            "email": (charge.billing_email or charge.receipt_email) if charge else None,
        },
    )
