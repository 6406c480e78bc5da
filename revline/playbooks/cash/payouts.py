"""Daily payout reconciliation: each working morning, yesterday's payouts become deposits.

For every Stripe payout that arrived since the last working day (and any within the look-back
that is still not deposited), its balance transactions are matched to the customer payments
waiting in NetSuite's Undeposited Funds through every tier of the matching engine — the payments
of all the morning's payouts in one run, so no NetSuite payment is claimed twice — and one
deposit is proposed per payout, keyed by the payout and its lines so a second run posts nothing
twice. A payment with no NetSuite record is flagged as an orphan the same morning and its payout
waits: nothing goes to a suspense account. A payout held by a match that waits for a person says
so. A payment that paid a duplicate of an invoice already paid is flagged for duplicate resolution
(its money is real: the deposit still takes it). A payout whose payments are all accounted for
but whose lines do not tie to the cent is not posted: the variance is flagged and becomes a
``payout_variance`` case. A payout that pays out again the money of a payout the bank returned
carries that payout's movements when NetSuite never deposited it; when NetSuite did, the bank
gave the money back and a person books it: the payout is flagged to its ``payout_variance`` case
naming the returned payout and its deposit (``deposit`` explains both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from revline.clock import WorkingCalendar
from revline.config import Policy
from revline.core.cases import CaseKind, CaseView
from revline.core.inbox import EventView
from revline.core.jsonable import digest
from revline.core.playbook import (
    ActionSpec,
    CaseRef,
    Decision,
    Enrichment,
    Facts,
    Playbook,
    Trigger,
    Withdrawal,
)
from revline.core.scheduler import SCHEDULE_SOURCE, DailyAt
from revline.money import Money
from revline.playbooks.cash import duplicates
from revline.playbooks.cash.arrival import arrival_day, arriving
from revline.playbooks.cash.deposit import (
    PAYMENT_TYPES,
    RETURNED_TYPES,
    DepositPlan,
    ReturnedPayout,
    carried,
    compose,
    payout_fees,
)
from revline.playbooks.cash.flags import DUPLICATE_FLAG, ORPHAN_FLAG, PAYOUT_VARIANCE_FLAG
from revline.playbooks.cash.returned import (
    RETURNED_CASE,
    decide_returned,
    deposit_withdrawn,
    itemised,
    returned_case_payout,
    returned_payout_id,
    returned_payouts,
)
from revline.providers.netsuite.actions import DEPOSIT_CREATE
from revline.providers.netsuite.records import Customer, CustomerPayment, Invoice, InvoiceStatus
from revline.providers.stripe.records import BalanceTransaction, Charge, Payout
from revline.reconcile import Entry, Match, MatchRules, MatchStatus, match

SCHEDULE = "payout_reconciliation"
# Enrichment reads this far back; the policy's ``payout_lookback_days`` (at most this) decides.
MAX_LOOKBACK_DAYS = 31

PAYOUT_RECONCILIATION = CaseKind(
    name="payout_reconciliation",
    initial="open",
    transitions={
        "open": frozenset({"reconciled", "exceptions", "recording"}),
        "recording": frozenset({"reconciled", "exceptions"}),
        "exceptions": frozenset({"reconciled", "recording"}),
        # A person's rerun of a reconciled morning after NetSuite changed may find what the
        # morning did not: the day opens again.
        "reconciled": frozenset({"exceptions", "recording"}),
    },
    terminal=frozenset({"reconciled"}),
)
# A Stripe payment whose NetSuite invoice is there but whose customer payment is not (the
# connector missed it) is recorded, not orphaned; the payout is reconciled again once it is.
RECORD_PAYMENT = "netsuite.customer_payment.create"
# A match proposed (ambiguous, one-to-many, scored without decisive evidence) or blocked (a
# currency mismatch) waits for a person: its payout is held, and nothing is orphaned.
_FOR_A_PERSON = frozenset({MatchStatus.PROPOSED, MatchStatus.BLOCKED})
# The statuses of a payout that waits for a person; a payout being recorded waits for NetSuite.
_HELD_FOR_A_PERSON = frozenset(
    {"orphans_pending", "matches_pending", "variance", "returned_payout", "manual_payout"}
)
# The held statuses each flagged to the payout's ``payout_variance`` case.
FLAGGED_TO_A_VARIANCE_CASE = frozenset({"variance", "returned_payout", "manual_payout"})
# Enough of a digest of the figures to tell sets of them apart in a key (a flag's, a deposit's).
_FIGURES_DIGEST = 12
_COUNTED = (
    DEPOSIT_CREATE,
    RECORD_PAYMENT,
    ORPHAN_FLAG,
    DUPLICATE_FLAG,
    PAYOUT_VARIANCE_FLAG,
)


@dataclass(frozen=True)
class SettledPayout:
    """A paid payout with what it settled, as read from Stripe and NetSuite.

    ``transactions`` are what its deposit carries: its balance transactions, with the movements
    of each returned payout NetSuite never deposited standing in for the ``payout_failure`` that
    pays that payout's money out again (``deposit.carried``)."""

    payout: Payout
    transactions: tuple[BalanceTransaction, ...]
    charges: dict[str, Charge]  # by charge id: the payer's email and Stripe customer
    deposited: bool  # NetSuite already holds a deposit for it
    arrived_on: date  # the day the bank received it (Stripe's arrival date): the deposit's date
    # Every returned payout whose money this payout pays out again, deposited in NetSuite or not.
    returned: tuple[ReturnedPayout, ...] = ()


@dataclass(frozen=True)
class Undeposited:
    """NetSuite's customer payments waiting in Undeposited Funds, with what the matching tiers
    compare them by: each payment's customer (its Stripe customer id, per the stable-ID mapping
    ``custentity_stripe_customer_id``, its email and its name) and the invoice it is applied to
    (its Stripe invoice id and its number). A payment keyed by hand without the Stripe charge
    id is still found: by its invoice's Stripe id, or by customer, amount and date."""

    payments: tuple[CustomerPayment, ...]
    customers: Mapping[str, Customer]  # the payments' customers, by NetSuite internal id
    invoices: Mapping[str, Invoice]  # the invoices the payments are applied to, by internal id

    @classmethod
    def read(cls, netsuite: Any) -> Undeposited:
        payments = tuple(netsuite.undeposited_payments())
        customers = netsuite.customers({p.customer_id for p in payments})
        invoices = netsuite.invoices({i for p in payments for i in p.applied_invoices})
        return cls(payments, {c.id: c for c in customers}, {i.id: i for i in invoices})

    def entries(self) -> list[Entry]:
        """The payments as the matching engine's right side."""
        return [self._entry(payment) for payment in self.payments]

    def _entry(self, payment: CustomerPayment) -> Entry:
        customer = self.customers.get(payment.customer_id)
        invoice = self.invoices.get(payment.sole_invoice or "")
        return Entry(
            id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            day=payment.date,
            charge_id=payment.stripe_charge_id,
            invoice_id=invoice.stripe_invoice_id if invoice else None,
            customer=customer.stripe_customer_id if customer else None,
            email=customer.email if customer else None,
            name=customer.name if customer else None,
            # The number a payer quotes is the invoice's, not the payment's.
            reference=invoice.number if invoice else None,
        )


@dataclass(frozen=True)
class PayoutResult:
    """One payout's reconciliation: its payments' matches and the deposit they allow."""

    payout: SettledPayout
    matches: tuple[Match, ...]  # one per payment of the payout
    matched: Mapping[str, CustomerPayment]  # balance transaction → the payment it settles
    plan: DepositPlan


def payment_entries(settled: SettledPayout, calendar: WorkingCalendar) -> list[Entry]:
    """The payout's payments as the matching engine's left side, each on its business date:
    the day NetSuite's customer payment is dated, so an evening payment is compared with the
    payment of the same day."""
    entries = []
    for txn in settled.transactions:
        # A payment of nothing moves no money: no deposit line (``deposit.compose``), so it is
        # neither matched nor an orphan that holds the payout.
        if txn.type not in PAYMENT_TYPES or txn.source is None or txn.amount == 0:
            continue
        charge = settled.charges.get(txn.source)
        entries.append(
            Entry(
                id=txn.id,
                amount=txn.amount,
                currency=txn.currency,
                day=calendar.business_date(txn.created),
                charge_id=txn.source,
                invoice_id=charge.invoice if charge else None,
                customer=charge.customer if charge else None,
                email=(charge.billing_email or charge.receipt_email) if charge else None,
                name=charge.billing_name if charge else None,
                reference=charge.description if charge else None,
            )
        )
    return entries


def reconcile(
    payouts: Sequence[SettledPayout],
    undeposited: Undeposited,
    policy: Policy,
    calendar: WorkingCalendar,
) -> list[PayoutResult]:
    """Match the payouts' payments and compose each payout's deposit. Pure.

    The payments of every payout are matched in one run: a NetSuite payment within tolerance of
    payments on two payouts is then offered to a person, never deposited twice."""
    rules = MatchRules(
        amount_drift=policy.match_amount_drift, date_window_days=policy.match_date_window_days
    )
    left = [entry for settled in payouts for entry in payment_entries(settled, calendar)]
    report = match(left, undeposited.entries(), rules)
    payments = {payment.id: payment for payment in undeposited.payments}
    results = []
    for settled in payouts:
        own = {txn.id for txn in settled.transactions}
        matches = tuple(m for m in report.matches if m.left in own)
        matched = {
            m.left: payments[m.rights[0]]
            for m in matches
            if m.status is MatchStatus.MATCHED and len(m.rights) == 1
        }
        returned = {r.payout: r for r in settled.returned}
        plan = compose(settled.payout, settled.transactions, matched, policy, returned)
        results.append(PayoutResult(settled, matches, matched, plan))
    return results


class PayoutReconciliation(Playbook):
    """Each working day at ``payout_reconciliation_time``: one case per business date."""

    name = "payout_reconciliation"
    case_kind = PAYOUT_RECONCILIATION
    # A recorded customer payment brings the day's reconciliation back, to deposit the payout.
    follows_outcomes = True

    def schedules(self, policy: Policy) -> list[DailyAt]:
        # A worker back after a long outage runs every morning it missed, each reading the
        # payouts since the working day before it: with the scheduler's usual five days, the
        # mornings before were skipped and a payout that arrived then was never deposited
        # (the first morning run looks back only ``payout_lookback_days``).
        return [
            DailyAt(SCHEDULE, policy.payout_reconciliation_time, catch_up_days=MAX_LOOKBACK_DAYS)
        ]

    def case_for(self, event: EventView) -> CaseRef | None:
        returned = returned_payout_id(event)
        if returned is not None:
            # A case of its own: the return is on record beside the mornings it touches.
            return CaseRef(subject=f"{RETURNED_CASE}{returned}")
        if event.source != SCHEDULE_SOURCE or event.type != f"schedule.{SCHEDULE}":
            return None
        return CaseRef(subject=f"payouts:{event.payload['business_date']}")

    def enrich(self, case: CaseView, trigger: Trigger, enrichment: Enrichment) -> Facts:
        stripe = enrichment.adapters["stripe"]
        netsuite = enrichment.adapters["netsuite"]
        given_back = returned_case_payout(case.subject, trigger.event)
        if given_back is not None:
            deposits = tuple(d.id for d in netsuite.deposits_for_payout(given_back))
            return Facts(
                trigger,
                {
                    "returned": stripe.get_payout(given_back),
                    "deposits": deposits,
                    "locale": enrichment.company.locale,
                },
            )
        if not _reconciles(trigger):
            return Facts(trigger)
        today = business_date_of(case, trigger)
        arrival_from, arrival_until = arriving(today - timedelta(days=MAX_LOOKBACK_DAYS), today)
        payouts = stripe.list_payouts(
            arrival_from=arrival_from, arrival_until=arrival_until, status="paid"
        )
        settled = []
        for payout in sorted(payouts, key=lambda p: (p.arrival_date, p.id)):
            # Stripe itemises only an automatic payout; a manual one is deposited by hand.
            transactions = tuple(stripe.payout_transactions(payout.id)) if payout.automatic else ()
            deposited = bool(netsuite.deposits_for_payout(payout.id))
            charges = {}
            returned: tuple[ReturnedPayout, ...] = ()
            if not deposited and payout.automatic:
                returned = _returned_payouts(transactions, stripe, netsuite)
                transactions = carried(
                    transactions, {r.payout: r.transactions for r in returned if not r.deposits}
                )
                for txn in transactions:
                    if txn.type in PAYMENT_TYPES and txn.source:
                        charges[txn.source] = stripe.get_charge(txn.source)
            settled.append(
                SettledPayout(
                    payout, transactions, charges, deposited, arrival_day(payout), returned
                )
            )
        undeposited = Undeposited.read(netsuite)
        recorded = {p.stripe_charge_id for p in undeposited.payments}
        invoiced = {}  # charge id → its open NetSuite invoice, for payments NetSuite lacks
        # charge id → the payments once recorded for it and voided since.
        voided: dict[str, tuple[str, ...]] = {}
        # charge id → the NetSuite invoices carrying its Stripe invoice id when none or several
        # of them are open: the payment is no orphan, but no invoice can take it either.
        in_doubt = {}
        for item in settled:
            for charge in item.charges.values():
                if charge.id not in recorded:
                    # Recorded once and voided since (an orphan's applied match a person
                    # voided): found again, it is a new finding, not the one already made.
                    gone = tuple(netsuite.voided_payments_by_charge(charge.id))
                    if gone:
                        voided[charge.id] = gone
                if charge.id not in recorded and charge.invoice:
                    found = tuple(netsuite.invoices_by_stripe_invoice(charge.invoice))
                    open_ = [i for i in found if i.status is InvoiceStatus.OPEN]
                    if len(open_) == 1:
                        invoiced[charge.id] = open_[0]
                    elif found:
                        in_doubt[charge.id] = found
        invoices = _invoices_of_payers(settled, undeposited, netsuite, today)
        alike = duplicates.paid_alike(invoices)
        return Facts(
            trigger,
            {
                "business_date": today,
                "calendar": enrichment.calendar,
                "locale": enrichment.company.locale,
                "payouts": settled,
                "undeposited": undeposited,
                "invoices": invoices,
                # How the invoices that may be paid twice were paid, deposited or not.
                "alike_payments": netsuite.customer_payments_applied_to(alike) if alike else [],
                "invoiced": invoiced,
                "voided": voided,
                "invoices_in_doubt": in_doubt,
            },
        )

    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        if "returned" in facts.values:
            return decide_returned(facts["returned"], facts["deposits"], facts["locale"])
        if "business_date" not in facts.values:
            return Decision("nothing to do outside the morning run or a person's rerun")
        today: date = facts["business_date"]
        actions: list[ActionSpec] = []
        withdrawn: list[Withdrawal] = []
        summary: list[dict[str, Any]] = []
        exceptions = 0
        # Every payout since the last morning's run (a Friday's on a Monday, however short the
        # look-back), and any payout of the look-back still not deposited.
        oldest = min(
            today - timedelta(days=policy.payout_lookback_days),
            facts["calendar"].previous_working_day(today),
        )
        due = [s for s in facts["payouts"] if s.arrived_on >= oldest]
        results = {
            result.payout.payout.id: result
            for result in reconcile(
                [s for s in due if not s.deposited and s.payout.automatic],
                facts["undeposited"],
                policy,
                facts["calendar"],
            )
        }
        for settled in due:
            payout = settled.payout
            # What a reader of the day needs about every payout, deposited or not.
            known: dict[str, Any] = {
                "payout": payout.id,
                "amount": payout.amount,
                "currency": payout.currency.upper(),
                "arrival": settled.arrived_on.isoformat(),
            }
            if settled.deposited:
                # Its fees as Stripe withheld them (the deposit's fee line). None to show for a
                # manual payout (it settled no movement in particular), nor for one that paid
                # out a returned payout's money: its deposit carried that payout's fees too,
                # which are not read again once it is deposited (its deposit's lines show them).
                carried_back = any(t.type in RETURNED_TYPES for t in settled.transactions)
                fees = (
                    payout_fees(settled.transactions)
                    if payout.automatic and not carried_back
                    else None
                )
                # The matches it was deposited on, as the run that proposed its deposit found
                # them: a rerun does not erase why each line is what it is.
                matched_on = _matches_of(case, payout.id)
                summary.append(
                    {
                        **known,
                        "status": "already_deposited",
                        "fees": fees,
                        **({"matches": matched_on} if matched_on else {}),
                    }
                )
                continue
            if not payout.automatic:
                actions.append(_manual_flag(today, settled))
                exceptions += 1
                summary.append({**known, "status": "manual_payout"})
                continue
            result = results[payout.id]
            plan = result.plan
            # A returned payout's deposit still waiting must not post: this payout deposits its
            # payments (Stripe's ``payout.failed`` withdrew it already, unless that was missed).
            withdrawn += [
                deposit_withdrawn(r.payout, f"payout {payout.id} pays its money out again")
                for r in settled.returned
                if not r.deposits
            ]
            unmatched = [m for m in result.matches if m.status is MatchStatus.UNMATCHED]
            held = [m for m in result.matches if m.status in _FOR_A_PERSON]
            recording = [
                spec
                for m in unmatched
                if (
                    spec := _record_payment(
                        settled, m.left, facts["invoiced"], facts.get("voided", {}), today
                    )
                )
                is not None
            ]
            actions += recording
            recorded = {spec.subject for spec in recording}
            not_recorded = [m for m in unmatched if _charge_of(settled, m.left) not in recorded]
            # A payment whose NetSuite invoice cannot take it waits for a person, as a blocked
            # match does; only one NetSuite has no invoice for is an orphan.
            doubts = {
                m.left: why
                for m in not_recorded
                if (
                    why := _invoice_doubt(
                        settled,
                        m.left,
                        facts["invoiced"],
                        facts.get("invoices_in_doubt", {}),
                        facts["locale"],
                    )
                )
                is not None
            }
            orphans = [m for m in not_recorded if m.left not in doubts]
            for orphan in orphans:
                actions.append(_orphan_flag(settled, orphan.left, facts.get("voided", {})))
            actions += _duplicates_paid_by(
                settled, result.matched, facts["invoices"], facts["alike_payments"], policy
            )
            # One status, the first that holds: what keeps the payout from its deposit now.
            if plan.postable:
                actions.append(_deposit(settled, plan))
                status = "deposit_proposed"
            elif orphans:
                status = "orphans_pending"
            elif held or doubts:
                status = "matches_pending"
            elif recording:
                status = "recording_payments"
            elif plan.returned:
                # The bank gave back money NetSuite had deposited: a person books it.
                actions.append(_variance_flag(today, settled, plan))
                status = "returned_payout"
            else:
                # Every payment is accounted for and the lines still do not tie.
                actions.append(_variance_flag(today, settled, plan))
                status = "variance"
            if status in _HELD_FOR_A_PERSON:
                exceptions += 1
            summary.append(
                {
                    **known,
                    "status": status,
                    "fees": plan.fees,
                    "variance": plan.variance if not plan.unresolved else None,
                    "unresolved": list(plan.unresolved),
                    "matches": [
                        {
                            "transaction": m.left,
                            "charge": _charge_of(settled, m.left),
                            "status": m.status.value,
                            "netsuite": list(m.rights),
                            "tier": m.tier.value if m.tier else None,
                            "reason": doubts.get(m.left, m.reason),
                        }
                        for m in result.matches
                    ],
                    **(
                        {"returned": [r.params() for r in settled.returned]}
                        if settled.returned
                        else {}
                    ),
                }
            )
        counted = {kind: sum(1 for a in actions if a.kind == kind) for kind in _COUNTED}
        explanation = (
            f"{len(summary)} payout(s) for {today.isoformat()}: "
            f"{counted[DEPOSIT_CREATE]} deposit(s) proposed, "
            f"{counted[RECORD_PAYMENT]} missing customer payment(s) recorded from their "
            f"invoices, {counted[ORPHAN_FLAG]} orphan payment(s) flagged, "
            f"{counted[DUPLICATE_FLAG]} duplicate invoice(s) flagged, "
            f"{counted[PAYOUT_VARIANCE_FLAG]} payout variance(s) flagged, "
            f"{exceptions} payout(s) held for a person"
        )
        recording_now = counted[RECORD_PAYMENT]
        state = "exceptions" if exceptions else "recording" if recording_now else "reconciled"
        return Decision(
            explanation,
            state=state,
            actions=tuple(actions),
            withdraw=tuple(withdrawn),
            data={"business_date": today.isoformat(), "payouts": summary},
            queue=_queue(summary) if exceptions else None,
        )


def _queue(summary: list[dict[str, Any]]) -> str:
    """Whose the held day is: the AR specialist's while a payment waits to be told apart from
    an invoice (an orphan, a match to confirm, an invoice that cannot take it); else — only a
    payout's figures hold it (a variance, money returned, a manual payout) — the billing
    analyst's, whose payout variance cases those are too."""
    held = {entry["status"] for entry in summary} & _HELD_FOR_A_PERSON
    return "ar_specialist" if held - FLAGGED_TO_A_VARIANCE_CASE else "billing_analyst"


def business_date_of(case: CaseView, trigger: Trigger) -> date:
    """The morning's date: from the schedule event, else (a person's rerun, a recorded
    payment) the case's."""
    if trigger.event is not None and trigger.event.source == SCHEDULE_SOURCE:
        return date.fromisoformat(str(trigger.event.payload["business_date"]))
    return date.fromisoformat(case.subject.removeprefix("payouts:"))


def _reconciles(trigger: Trigger) -> bool:
    """The morning run, a person's rerun, or a customer payment just recorded; the outcomes of
    the case's other actions (a deposit posted, a finding flagged) change nothing."""
    if trigger.kind in ("event", "manual"):
        return True
    event = trigger.event
    return (
        trigger.kind == "action"
        and event is not None
        and event.payload.get("kind") == RECORD_PAYMENT
        and event.payload.get("status") == "applied"
    )


def _matches_of(case: CaseView, payout: str) -> list[dict[str, Any]]:
    """The matches the day's case last recorded for ``payout`` (none if it recorded none)."""
    for known in case.data.get("payouts") or []:
        if known.get("payout") == payout:
            return list(known.get("matches") or [])
    return []


def _charge_of(settled: SettledPayout, txn_id: str) -> str | None:
    return next((t.source for t in settled.transactions if t.id == txn_id), None)


def _record_payment(
    settled: SettledPayout,
    txn_id: str,
    invoiced: dict[str, Invoice],
    voided: Mapping[str, tuple[str, ...]],
    today: date,
) -> ActionSpec | None:
    """The customer payment NetSuite lacks, for a payment whose invoice it holds.

    It is dated the day the payout reached the bank, the date of the deposit that moves it out
    of Undeposited Funds: dated the morning it is recorded, after the deposit, it would leave
    Undeposited Funds before it came in, and a month-end tie-out between the two days would
    find NetSuite short by the payment. The date is in the key: a charge whose payout the bank
    returned is recorded as of the payout that carries it again, superseding a record still
    pending (NetSuite records a charge once, whatever the key). So are the payments recorded
    for the charge and voided since: a person voided the one Revline recorded, and the charge
    is recorded again, not taken for done under the key that recorded it."""
    txn = next(t for t in settled.transactions if t.id == txn_id)
    invoice = invoiced.get(txn.source or "")
    if (
        invoice is None
        or invoice.currency != txn.currency.upper()
        or invoice.amount_remaining < txn.amount
    ):
        return None
    on = min(settled.arrived_on, today).isoformat()
    gone = voided.get(txn.source or "", ())
    return ActionSpec(
        RECORD_PAYMENT,
        subject=str(txn.source),
        params={
            "invoice": invoice.id,
            "charge": txn.source,
            "amount": txn.amount,
            "currency": txn.currency.upper(),
            "date": on,
        },
        attempt=f"{on}.after-voided-{'-'.join(gone)}" if gone else on,
        supersedes=True,
    )


def _invoice_doubt(
    settled: SettledPayout,
    txn_id: str,
    invoiced: Mapping[str, Invoice],
    in_doubt: Mapping[str, Sequence[Invoice]],
    locale: str,
) -> str | None:
    """Why a payment NetSuite invoiced cannot be recorded from its invoice, for the person it
    waits for; None when NetSuite has no invoice carrying its Stripe invoice id (an orphan).
    Called for a payment ``_record_payment`` did not record."""
    txn = next(t for t in settled.transactions if t.id == txn_id)
    paid = Money(txn.amount, txn.currency)
    invoice = invoiced.get(txn.source or "")
    if invoice is not None:
        name = f"NetSuite invoice {invoice.number or invoice.id}"
        if invoice.currency != paid.currency:
            problem = f"{name} is in {invoice.currency}, the payment in {paid.currency}"
        else:
            remaining = Money(invoice.amount_remaining, invoice.currency)
            problem = (
                f"{name} has {remaining.format(locale)} remaining, less than the payment's "
                f"{paid.format(locale)}"
            )
        return f"{problem}: the payment cannot be recorded against it; a person decides"
    found = in_doubt.get(txn.source or "", ())
    if not found:
        return None
    carrying = f"Stripe invoice {found[0].stripe_invoice_id}"
    open_ = [i.number or i.id for i in found if i.status is InvoiceStatus.OPEN]
    if open_:
        return (
            f"{len(open_)} open NetSuite invoices carry {carrying}: {', '.join(open_)}; a "
            "person chooses the one the payment paid"
        )
    listed = ", ".join(f"{i.number or i.id} ({i.status.value.replace('_', ' ')})" for i in found)
    return (
        f"NetSuite invoice {listed} carries {carrying}, but none is open: the payment cannot "
        "be recorded against it; a person decides"
    )


def _orphan_flag(
    settled: SettledPayout, txn_id: str, voided: Mapping[str, tuple[str, ...]]
) -> ActionSpec:
    """The payment NetSuite has no record of, handed to its ``orphan_payment`` case. A payment
    recorded once (its case's match applied) and voided since by a person is found again: a
    new finding, keyed and named by the payments voided, which opens its case again."""
    txn = next(t for t in settled.transactions if t.id == txn_id)
    charge = settled.charges.get(txn.source or "")
    gone = voided.get(txn.source or "", ())
    params: dict[str, Any] = {
        "charge": txn.source,
        "balance_transaction": txn.id,
        "amount": txn.amount,
        "currency": txn.currency,
        "email": (charge.billing_email or charge.receipt_email) if charge else None,
    }
    if gone:
        params["voided"] = list(gone)
    return ActionSpec(
        ORPHAN_FLAG,
        subject=str(txn.source),
        # Not the payout: a returned payout's next payout carries the same payment, the same
        # finding (a parameter that differed would conflict with the flag already proposed).
        params=params,
        attempt=f"after-voided-{'-'.join(gone)}" if gone else 1,
    )


def _deposit(settled: SettledPayout, plan: DepositPlan) -> ActionSpec:
    """The payout's deposit, keyed by the payout and its lines.

    A run that finds the same lines proposes the same deposit, so a morning run twice posts it
    once. A deposit not posted yet (failed, held by the emergency stop) may be composed again
    with other lines once the books change (a payment voided and keyed again is another NetSuite
    payment): that is a new deposit for the payout, superseding the one still pending. Under a
    key of the payout alone, other lines would be an idempotency conflict, which rolls the whole
    morning back, every other payout's deposit with it. The payout is still deposited once: the
    NetSuite adapter asks NetSuite first, whatever the key."""
    params = plan.params(settled.arrived_on.isoformat())
    return ActionSpec(
        DEPOSIT_CREATE,
        subject=settled.payout.id,
        params=params,
        attempt=digest(params)[:_FIGURES_DIGEST],
        supersedes=True,
    )


def _variance_flag(today: date, settled: SettledPayout, plan: DepositPlan) -> ActionSpec:
    """The payout whose deposit cannot tie, handed on to its ``payout_variance`` case with the
    figures as this run finds them.

    The books may be corrected in part between one morning and the next, or before a rerun, so
    the figures of a payout still waiting change. The flag is keyed by the payout, the morning
    and the figures: each morning hands the case the figures it finds, a rerun that finds other
    figures hands those on too, and a run that finds the same figures proposes the same flag.
    Under a key of the payout alone, other figures would be an idempotency conflict, which rolls
    the whole morning back, every other payout's deposit with it."""
    figures = {
        "payout": plan.payout,
        "amount": plan.amount,
        "currency": plan.currency,
        "arrival": settled.arrived_on.isoformat(),
        "lines_total": plan.lines_total,
        "variance": plan.variance,
        "fees": plan.fees,
        "lines": [line.params() for line in plan.lines],
    }
    if plan.returned:
        figures["returned"] = [r.params() for r in plan.returned]
    return ActionSpec(
        PAYOUT_VARIANCE_FLAG,
        subject=settled.payout.id,
        params=figures,
        attempt=f"{today.isoformat()}.{digest(figures)[:_FIGURES_DIGEST]}",
    )


def _manual_flag(today: date, settled: SettledPayout) -> ActionSpec:
    """A manual payout, handed on to its ``payout_variance`` case: Stripe does not say what a
    payout made by hand settled, so no deposit can be composed for it; a person books it."""
    payout = settled.payout
    figures = {
        "payout": payout.id,
        "amount": payout.amount,
        "currency": payout.currency.upper(),
        "arrival": settled.arrived_on.isoformat(),
        "manual": True,
        "lines_total": 0,
        "variance": payout.amount,
        "fees": 0,
        "lines": [],
    }
    return ActionSpec(
        PAYOUT_VARIANCE_FLAG,
        subject=payout.id,
        params=figures,
        attempt=f"{today.isoformat()}.{digest(figures)[:_FIGURES_DIGEST]}",
    )


def _returned_payouts(
    transactions: Sequence[BalanceTransaction], stripe: Any, netsuite: Any
) -> tuple[ReturnedPayout, ...]:
    """Every returned payout whose money these transactions pay out again, with its NetSuite
    deposits; what it settled is read only when it has none (its payments are still in
    Undeposited Funds), and may pay out an earlier returned payout's money again in turn."""
    deposits: dict[str, tuple[str, ...]] = {}

    def settled(payout_id: str) -> list[BalanceTransaction]:
        deposits[payout_id] = tuple(d.id for d in netsuite.deposits_for_payout(payout_id))
        return [] if deposits[payout_id] else itemised(stripe, payout_id)

    return tuple(
        ReturnedPayout(r.payout, r.amount, r.transactions, deposits[r.payout])
        for r in returned_payouts(transactions, settled)
    )


def _invoices_of_payers(
    settled: list[SettledPayout],
    undeposited: Undeposited,
    netsuite: Any,
    today: date,
) -> list[Invoice]:
    """Recent invoices of every customer with a payment on a payout still to deposit (its
    NetSuite payment carries the charge, or the customer is the charge's Stripe customer):
    where a paid duplicate of an invoice would show."""
    waiting = [s for s in settled if not s.deposited]
    charges = {txn.source for s in waiting for txn in s.transactions if txn.source}
    stripe_customers = {c.customer for s in waiting for c in s.charges.values() if c.customer}
    payers = {p.customer_id for p in undeposited.payments if p.stripe_charge_id in charges} | {
        c.id for c in undeposited.customers.values() if c.stripe_customer_id in stripe_customers
    }
    since = today - timedelta(days=MAX_LOOKBACK_DAYS + duplicates.MAX_WINDOW_DAYS)
    return list(netsuite.customer_invoices(sorted(payers), since))


def _duplicates_paid_by(
    settled: SettledPayout,
    matched: Mapping[str, CustomerPayment],
    invoices: list[Invoice],
    alike_payments: Sequence[CustomerPayment],
    policy: Policy,
) -> list[ActionSpec]:
    """A flag for each duplicate invoice paid by one of this payout's matched payments, or
    paid first, on a payout already deposited, when this payout pays the invoice it copies:
    the customer paid the copy before the original, and the copy is found the morning the
    second payment arrives."""
    charges = {txn.id: txn.source for txn in settled.transactions}
    paid_by = {
        invoice: (charges[txn_id], payment)
        for txn_id, payment in matched.items()
        for invoice in payment.applied_invoices
    }
    deposited: dict[str, list[CustomerPayment]] = {}
    for earlier in alike_payments:
        if not earlier.undeposited and earlier.stripe_charge_id:
            for invoice in earlier.applied_invoices:
                deposited.setdefault(invoice, []).append(earlier)
    flags = []
    for pair in duplicates.find_duplicates(invoices, policy.duplicate_invoice_window_days):
        found = paid_by.get(pair.duplicate.id)
        paid_first = deposited.get(pair.duplicate.id, [])
        if found is None and pair.kept.id in paid_by and len(paid_first) == 1:
            found = (paid_first[0].stripe_charge_id, paid_first[0])
        if found is None:
            continue
        charge, payment = found
        flags.append(
            ActionSpec(
                DUPLICATE_FLAG,
                subject=pair.duplicate.id,
                params={
                    "invoice": pair.duplicate.id,
                    "invoice_number": pair.duplicate.number,
                    "kept_invoice": pair.kept.id,
                    "kept_invoice_number": pair.kept.number,
                    "customer": pair.duplicate.customer_id,
                    "amount": pair.duplicate.amount,
                    "currency": pair.duplicate.currency,
                    "charge": charge,
                    "payment": payment.id,
                    # Not the payout that found it: another payout's morning (the original's,
                    # held or run again) may find the same pair, and it is the same finding.
                },
            )
        )
    return flags
