"""Duplicate invoice resolution: two NetSuite invoices for one obligation, both paid.

The AR specialist's procedure (seed 000, "Voiding a duplicate NetSuite invoice and refunding the
Stripe charge"): void the duplicate in NetSuite — a void, never a credit memo — refund the
duplicate Stripe charge with reason ``duplicate``, email the customer a one-line apology quoting
the invoice that stands, and take the voided invoice out of the recognition schedule the same
day. The daily payout reconciliation finds the pair (``find_duplicates``) and flags it; this
playbook carries the procedure out, one ``duplicate_invoice`` case per duplicate.

The books stay whole: the void takes the customer payment off the duplicate (it stays on the
customer as unapplied credit), and once Stripe has refunded the charge a customer refund record
uses that credit up, against ``refunds_gl`` — the account the refund's line on a later payout's
deposit is booked to, so the two cancel and revenue is reversed once, by the void.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from revline.config import Policy
from revline.core.actions import shadowed_again
from revline.core.cases import ActionView, CaseKind, CaseView
from revline.core.inbox import EventView
from revline.core.playbook import (
    KEEP,
    ActionSpec,
    CaseRef,
    Decision,
    Enrichment,
    Facts,
    Playbook,
    Trigger,
)
from revline.db.models import PENDING_ACTION_STATUSES, ActionStatus
from revline.money import Money
from revline.playbooks.cash.flags import DUPLICATE_FLAGGED, FINDING_SOURCE
from revline.providers.netsuite.records import Invoice, InvoiceStatus
from revline.providers.stripe.records import DISPUTE_OPEN, Dispute, Refund

DUPLICATE_INVOICE = CaseKind(
    name="duplicate_invoice",
    initial="resolving",
    transitions={
        "resolving": frozenset({"resolved", "needs_person"}),
        "needs_person": frozenset({"resolving", "resolved"}),
        # Stripe failed the case's refund after it had succeeded (the card was since closed).
        "resolved": frozenset({"needs_person"}),
    },
    terminal=frozenset({"resolved"}),
)
QUEUE = "ar_specialist"
REFUND_REASON = "duplicate"

VOID = "netsuite.invoice.void"
EXIT = "netsuite.revenue.exit"
REFUND = "stripe.refund.create"
CUSTOMER_REFUND = "netsuite.customer_refund.create"
EMAIL = "email.send"
# The widest ``duplicate_invoice_window_days`` the policy allows: enrichment reads this far.
MAX_WINDOW_DAYS = 27
# What resolves a case, in the order a person would read it.
STEPS = (VOID, EXIT, REFUND, CUSTOMER_REFUND, EMAIL)
# Stripe's status of a refund it made: only a succeeded one has reached the customer. A pending
# one (a bank debit's refund takes days) is read again every ``REFUND_RECHECK`` until it settles;
# a failed or canceled one is the AR specialist's.
REFUND_SETTLED = "succeeded"
REFUND_NOT_MADE = frozenset({"failed", "canceled"})
REFUND_RECHECK = timedelta(hours=1)
# How soon a case whose steps were only shadowed decides again (see ``decide``).
SHADOW_RECHECK = timedelta(hours=1)
# While the charge's dispute is open, the case looks at it again once a day: nothing else tells
# it the dispute ended (Stripe's dispute events name the charge, not the duplicate invoice).
DISPUTE_RECHECK = timedelta(days=1)
# Kept on the case's refund in Stripe: the duplicate invoice, so what Stripe says of the refund
# later (``refund.updated``) finds its case.
CASE_METADATA = "revline_duplicate_invoice"


@dataclass(frozen=True)
class DuplicatePair:
    """A paid invoice that repeats an earlier paid one of the same obligation."""

    kept: Invoice
    duplicate: Invoice


def obligation(invoice: Invoice) -> tuple[str, str, int, str, str]:
    """What an invoice bills for, as far as NetSuite says: the customer, the money, the
    description and the subscription. Two invoices with one obligation bill the same thing."""
    return (
        invoice.customer_id,
        invoice.currency,
        invoice.amount,
        (invoice.memo or "").strip().lower(),
        invoice.stripe_subscription_id or "",
    )


def find_duplicates(
    invoices: Iterable[Invoice],
    window_days: int,
    status: InvoiceStatus = InvoiceStatus.PAID_IN_FULL,
) -> list[DuplicatePair]:
    """Invoices in ``status`` (paid, unless asked of open ones) of one obligation dated within
    ``window_days`` of the invoice that stands before them: that one (older, then lower internal
    id) stands, the later one is a duplicate of it. An invoice further than the window from the
    one standing stands in its turn. Pure.

    Each invoice is compared with the latest that stands, not with the oldest read: the morning
    run reads weeks of invoices, so last period's invoice is often among them, and this
    period's invoice, a period after it, stands in its own right; a copy of it days later is
    its duplicate. The window keeps a subscription's next period — the same amount a month
    later — from ever looking like a duplicate of this one."""
    window = timedelta(days=window_days)
    pairs = []
    for group in _by_obligation(invoices, status):
        standing: Invoice | None = None
        for invoice in sorted(group.values(), key=lambda i: (i.date, _numeric(i.id))):
            if standing is not None and invoice.date - standing.date <= window:
                pairs.append(DuplicatePair(standing, invoice))
            else:
                standing = invoice
    return sorted(pairs, key=lambda p: _numeric(p.duplicate.id))


def paid_alike(invoices: Iterable[Invoice]) -> list[str]:
    """The paid invoices that share their obligation with another paid invoice: the only ones
    ``find_duplicates`` can pair, in any window."""
    return sorted(
        (
            invoice_id
            for group in _by_obligation(invoices, InvoiceStatus.PAID_IN_FULL)
            if len(group) > 1
            for invoice_id in group
        ),
        key=_numeric,
    )


def _by_obligation(invoices: Iterable[Invoice], status: InvoiceStatus) -> list[dict[str, Invoice]]:
    # By internal id within each obligation: an invoice read twice is still one invoice.
    groups: dict[tuple[str, str, int, str, str], dict[str, Invoice]] = {}
    for invoice in invoices:
        if invoice.status is status and invoice.amount > 0:
            groups.setdefault(obligation(invoice), {})[invoice.id] = invoice
    return list(groups.values())


def _numeric(internal_id: str) -> tuple[int, str]:
    return (int(internal_id), "") if internal_id.isdigit() else (0, internal_id)


class DuplicateInvoiceResolution(Playbook):
    """One case per duplicate invoice, opened by the payout reconciliation's finding."""

    name = "duplicate_invoice"
    case_kind = DUPLICATE_INVOICE
    # Each step's outcome brings the next: the customer refund and the apology wait for
    # Stripe's refund, and the case closes when every step is confirmed.
    follows_outcomes = True

    def case_for(self, event: EventView) -> CaseRef | None:
        if event.source == "stripe" and event.type == "refund.updated":
            # The case's own refund settled, or failed (even after it had succeeded): the case
            # reads it again now rather than at its next hourly look.
            refund = (event.payload.get("data") or {}).get("object") or {}
            invoice = (refund.get("metadata") or {}).get(CASE_METADATA)
            return CaseRef(invoice, opens=False) if isinstance(invoice, str) else None
        if event.source != FINDING_SOURCE or event.type != DUPLICATE_FLAGGED:
            return None
        return CaseRef(
            subject=str(event.payload["invoice"]), customer=str(event.payload["customer"])
        )

    def enrich(self, case: CaseView, trigger: Trigger, enrichment: Enrichment) -> Facts:
        finding = _finding(case, trigger)
        if finding is None:
            return Facts(trigger)
        netsuite = enrichment.adapters["netsuite"]
        stripe = enrichment.adapters["stripe"]
        customer = netsuite.customer(str(finding["customer"]))
        contact = customer.accounts_payable_contact if customer else None
        sender = enrichment.company.people.get("ar_specialist")
        refunds = stripe.list_refunds(str(finding["charge"]))
        return Facts(
            trigger,
            {
                "finding": finding,
                "refund_status": _refund_now(case, refunds),
                "duplicate": netsuite.invoice(str(finding["invoice"])),
                "refunded_by_hand": _refunded_by_hand(refunds, str(finding["invoice"])),
                "dispute": _latest_dispute(stripe.list_disputes(str(finding["charge"]))),
                "recipient": (
                    {"name": contact.name, "email": contact.email}
                    if contact and contact.email
                    else {"name": customer.name, "email": customer.email}
                    if customer and customer.email
                    else None
                ),
                "sender": sender.model_dump() if sender else None,
                "locale": enrichment.company.locale,
            },
        )

    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        if "finding" not in facts.values:
            return Decision("nothing new for this duplicate invoice")
        finding = facts["finding"]
        trigger = facts.trigger
        if trigger.kind == "manual" and trigger.detail.get("settled"):
            # The AR specialist settled by hand what stopped the case (a refund Stripe failed
            # reversed in NetSuite, the customer told): what is still pending is hers.
            who, note = trigger.detail.get("actor", "a person"), trigger.detail["settled"]
            return Decision(
                f"settled by hand by {who}: {note}",
                state="resolved",
                cancel_pending=f"settled by hand by {who}",
                data={"finding": finding, "settled": {"by": who, "note": note}},
                queue=None,
            )
        latest = _latest(case.actions)
        # A resolved case has nothing left to do, unless Stripe has just failed its refund (the
        # event of that change, not any later word of a refund a person has since settled).
        refund_status = _refund_status(latest, facts)
        if case.state == "resolved" and not (
            refund_status in REFUND_NOT_MADE and _failed_just_now(trigger, latest)
        ):
            return Decision("nothing new for this duplicate invoice")
        dispute = facts["dispute"]
        if dispute is not None and dispute["status"] in DISPUTE_OPEN:
            # A case with an open dispute goes to a person (seed 004), and nothing more is done
            # behind her: a refund beside the dispute would return the money twice if the
            # customer wins it.
            return Decision(
                f"charge {finding['charge']} is disputed ({dispute['id']}, "
                f"{dispute['status']}): the AR specialist settles {finding['invoice_number']} "
                "(a refund beside the dispute would return the money twice)",
                state="needs_person",
                cancel_pending=f"charge {finding['charge']} is disputed",
                next_action_at=now + DISPUTE_RECHECK,
                data={"finding": finding},
                flags={**case.flags, "dispute_open": True},
                queue=QUEUE,
            )
        if dispute is not None and dispute["status"] == "lost":
            # The cardholder's bank gave the money back through the dispute: refunding it too
            # would pay it twice. What is left (the duplicate void, the books) is hers.
            return Decision(
                f"the cardholder won dispute {dispute['id']} of charge {finding['charge']}: "
                "the money went back through it and nothing is refunded; the AR specialist "
                f"settles {finding['invoice_number']}",
                state="needs_person",
                cancel_pending=f"charge {finding['charge']} went back through its dispute",
                data={"finding": finding},
                flags={**case.flags, "dispute_open": False},
                queue=QUEUE,
            )
        # The dispute ended with the money the company's (won, or closed without a chargeback):
        # the refund the case cancelled for it is proposed again, under a key of its own, and
        # the case is no longer flagged.
        retry_refund = (
            dispute is not None
            and _status(latest, REFUND) == "cancelled"
            and str(latest[REFUND].error).endswith(f"charge {finding['charge']} is disputed")
        )
        flags = {**case.flags, "dispute_open": False} if case.flags.get("dispute_open") else KEEP
        # What Stripe shows refunded on the charge that the case's own refund did not refund:
        # refunded by hand in the dashboard, before the case got to it or while its refund waited.
        amount, own = int(finding["amount"]), latest.get(REFUND)
        by_hand = int(facts["refunded_by_hand"])
        in_full, in_part = by_hand >= amount, 0 < by_hand < amount
        cancel, by_hand_note = None, ""
        if in_full or in_part:
            refunded = _formatted(by_hand, finding, facts)
            how = (
                f"in full, {refunded}"
                if in_full
                else f"in part, {refunded} of {_formatted(amount, finding, facts)}"
            )
            seen = f"charge {finding['charge']} was refunded by hand in Stripe ({how})"
            # Cancelling takes every pending action of the case (``Decision.cancel_pending``),
            # so the case's own refund is cancelled when it is the only one; the outcome of the
            # step under way brings the case back here. Meanwhile Stripe would refuse it.
            if _only_pending(case, own):
                cancel, seen = seen, f"{seen}; the case's own refund is cancelled"
            elif _status(latest, REFUND) in PENDING_ACTION_STATUSES:
                seen += "; the case's own refund is cancelled once the steps under way are done"
            elif own is not None and own.status in ("failed", "cancelled"):
                seen += f"; the case's own refund was not made ({own.error})"
            by_hand_note = f"; {seen}"
        # Voided in NetSuite by someone other than the case's own void, which is not applied:
        # not proposed yet, failed, or still waiting (it will find the invoice voided, and do
        # nothing).
        duplicate: Invoice | None = facts["duplicate"]
        voided_by_hand = (
            duplicate is not None
            and duplicate.status is InvoiceStatus.VOIDED
            and _status(latest, VOID) != "applied"
        )
        if voided_by_hand and _status(latest, VOID) in ("failed", "cancelled"):
            by_hand_note += (
                f"; {finding['invoice_number']} was voided by hand in NetSuite after the case's "
                f"own void was not made ({latest[VOID].error})"
            )
        # A step that failed, or that a person rejected (a refund above the threshold), is the
        # AR specialist's to settle; nothing is retried behind her back. A refund refused or
        # rejected because the charge was refunded by hand in full is done, not stopped; so is
        # a void that failed on an invoice since voided by hand.
        stopped = [
            f"{kind}: {latest[kind].error}"
            for kind in STEPS
            if _status(latest, kind) in ("failed", "cancelled")
            and not (kind == REFUND and (in_full or retry_refund))
            and not (kind == VOID and voided_by_hand)
        ]
        # Made, and then not: Stripe failed or canceled the case's own refund — while pending,
        # or after it had succeeded and the books and the customer were told.
        if refund_status in REFUND_NOT_MADE:
            stopped.append(f"{REFUND}: Stripe's refund {_refund_id(latest)} {refund_status}")
            if _status(latest, CUSTOMER_REFUND) == "applied":
                by_hand_note += (
                    f"; the customer refund booked in NetSuite (on {policy.refunds_gl}) "
                    + ("and the apology stand" if _status(latest, EMAIL) == "applied" else "stands")
                    + " for money that did not reach the customer: reverse it and tell the customer"
                )
        if stopped:
            errors = "; ".join(stopped)
            return Decision(
                f"a step did not go through ({errors}): the AR specialist takes it{by_hand_note}",
                state="needs_person",
                cancel_pending=cancel,
                data={"finding": finding},
                queue=QUEUE,
            )
        actions = _unproposed(case, _first_steps(finding, facts), latest)
        if retry_refund and dispute is not None:
            actions += [
                replace(step, attempt=f"after-{dispute['id']}")
                for step in _first_steps(finding, facts)
                if step.kind == REFUND
            ]
        if in_part:
            # What the part refunded was for (the duplicate, or something else) is a person's
            # call: the case neither refunds the rest nor tells the customer it was refunded.
            return Decision(
                f"the refund of {finding['invoice_number']} is the AR specialist's to settle"
                + by_hand_note,
                state="needs_person",
                actions=tuple(actions),
                cancel_pending=cancel,
                data={"finding": finding},
                queue=QUEUE,
            )
        # The case's own refund is done once Stripe says it succeeded, not when it was asked.
        done = {
            kind
            for kind in STEPS
            if _status(latest, kind) == "applied"
            and (kind != REFUND or refund_status == REFUND_SETTLED)
        }
        # Done by a person before (or while) the case got to it: nothing to do twice.
        if voided_by_hand:
            done.add(VOID)
        if in_full:
            done.add(REFUND)
        if VOID in done and REFUND in done:
            applied = own if _status(latest, REFUND) == "applied" else None
            actions += _unproposed(case, _after_refund(finding, facts, applied, policy), latest)
        # Never resolved with the case's own refund still pending (a person's action on the
        # case kept it from being cancelled), nor its own void (waiting on an invoice since
        # voided by hand): that action's outcome brings the case back.
        if (
            done == set(STEPS)
            and (cancel or _status(latest, REFUND) not in PENDING_ACTION_STATUSES)
            and _status(latest, VOID) not in PENDING_ACTION_STATUSES
        ):
            return Decision(
                f"{finding['invoice_number']} voided, its charge refunded, the customer told "
                f"{finding['kept_invoice_number']} stands, and it is out of revenue recognition"
                + by_hand_note,
                state="resolved",
                cancel_pending=cancel,
                data={"finding": finding},
                queue=None,
            )
        if not facts["sender"] or not facts["recipient"]:
            missing = "no ar_specialist to write from" if not facts["sender"] else "no address"
            actions = [a for a in actions if a.kind != EMAIL]
            return Decision(
                f"resolving, but the apology cannot be written ({missing}): the AR specialist "
                "writes it" + by_hand_note,
                state="needs_person",
                actions=tuple(actions),
                cancel_pending=cancel,
                data={"finding": finding},
                queue=QUEUE,
            )
        waiting = ", ".join(kind for kind in STEPS if kind not in done) or "the steps under way"
        # Nothing tells the case when a pending refund settles: it reads it again.
        unsettled = _status(latest, REFUND) == "applied" and REFUND not in done
        recheck = now + REFUND_RECHECK if unsettled else None
        if recheck is not None:
            waiting += (
                f" (Stripe's refund {_refund_id(latest)} is {refund_status}: read again at "
                f"{recheck.isoformat()})"
            )
        elif actions or any(a.status == ActionStatus.SHADOWED for a in case.actions):
            # A step the playbook in shadow only records brings no outcome back to the case:
            # it decides again within the hour, so once the playbook is live, they are done.
            recheck = now + SHADOW_RECHECK
        return Decision(
            f"{finding['invoice_number']} duplicates {finding['kept_invoice_number']} and both "
            f"were paid: {len(actions)} step(s) proposed, waiting on {waiting}" + by_hand_note,
            state="resolving",
            actions=tuple(actions),
            flags=flags,
            cancel_pending=cancel,
            next_action_at=recheck or KEEP,
            data={"finding": finding},
            # Back from the AR specialist's queue once what stopped the case is settled.
            queue=None,
        )


def _finding(case: CaseView, trigger: Trigger) -> dict[str, Any] | None:
    """The payout reconciliation's finding: from the flag event, then from the case."""
    event = trigger.event
    if event is not None and event.source == FINDING_SOURCE and event.type == DUPLICATE_FLAGGED:
        return dict(event.payload)
    found = case.data.get("finding")
    return dict(found) if isinstance(found, dict) else None


def _unproposed(
    case: CaseView, specs: Iterable[ActionSpec], latest: dict[str, ActionView]
) -> list[ActionSpec]:
    """The steps not yet proposed to take effect. One only shadowed is proposed again: under
    its key while it stands as it was (live, that takes it live), under a new one when it has
    changed since (the apology to a new address), never the same key with other parameters."""
    steps = []
    for spec in specs:
        if spec.kind in latest:
            continue
        shadowed = [
            a for a in case.actions if a.kind == spec.kind and a.status == ActionStatus.SHADOWED
        ]
        if shadowed and not shadowed_again(case, DuplicateInvoiceResolution.name, [spec]):
            spec = replace(spec, attempt=len(shadowed) + 1)
        steps.append(spec)
    return steps


def _latest(actions: Iterable[ActionView]) -> dict[str, ActionView]:
    """The case's latest action of each kind that may take effect: one only shadowed is not
    there yet, so the step is proposed again (live, that takes it live)."""
    latest: dict[str, ActionView] = {}
    for action in sorted(actions, key=lambda a: a.created_at):
        if action.status != ActionStatus.SHADOWED:
            latest[action.kind] = action
    return latest


def _status(latest: dict[str, ActionView], kind: str) -> str | None:
    action = latest.get(kind)
    return action.status if action else None


def _refund_id(latest: dict[str, ActionView]) -> str:
    return str((latest[REFUND].result or {}).get("refund"))


def _refund_now(case: CaseView, refunds: Iterable[Refund]) -> str | None:
    """What Stripe says now of the case's own refund, once it made one (None otherwise:
    nothing to read). Read on every decision — a refund that succeeded may fail later, even
    while the apology is on its way or the case is with the AR specialist."""
    own = _latest(case.actions).get(REFUND)
    if own is None or own.status != "applied":
        return None
    made = {refund.id: refund.status for refund in refunds}
    return made.get(str((own.result or {}).get("refund")))


def _refund_event(trigger: Trigger) -> dict[str, Any] | None:
    """The ``refund.updated`` event that brought the decision, as Stripe sent it."""
    event = trigger.event
    if event is None or event.source != "stripe" or event.type != "refund.updated":
        return None
    return dict(event.payload.get("data") or {})


def _failed_just_now(trigger: Trigger, latest: dict[str, ActionView]) -> bool:
    """The decision was brought by Stripe saying the case's own refund went from made (pending
    or succeeded) to failed or canceled."""
    data = _refund_event(trigger)
    if data is None or REFUND not in latest:
        return False
    refund, before = data.get("object") or {}, data.get("previous_attributes") or {}
    return (
        refund.get("id") == _refund_id(latest)
        and refund.get("status") in REFUND_NOT_MADE
        and before.get("status") in ("pending", REFUND_SETTLED)
    )


def _refund_status(latest: dict[str, ActionView], facts: Facts) -> str | None:
    """Stripe's status of the case's own refund once Stripe made it: as read again (``enrich``),
    else as Stripe answered when it made it. None when the case made no refund."""
    if _status(latest, REFUND) != "applied":
        return None
    now = facts.values.get("refund_status")
    return str(now or (latest[REFUND].result or {}).get("status"))


def _latest_dispute(disputes: Iterable[Dispute]) -> dict[str, str] | None:
    """The charge's newest dispute, as the case keeps it; a won or closed one lets the case go
    on (the money stayed, or came back, with the company)."""
    newest = max(disputes, key=lambda d: d.created, default=None)
    return {"id": newest.id, "status": newest.status} if newest else None


def _refunded_by_hand(refunds: Iterable[Refund], invoice: str) -> int:
    """What Stripe shows refunded on the charge by anyone but the case: its refunds, less
    those Stripe failed or canceled, that do not carry the case's duplicate invoice in their
    metadata. The case's own refund carries it from the moment Stripe makes it, so a refund
    whose answer was lost (made, its retry not yet run) is the case's, not one made by hand."""
    return sum(
        refund.amount
        for refund in refunds
        if refund.status not in REFUND_NOT_MADE and refund.metadata.get(CASE_METADATA) != invoice
    )


def _only_pending(case: CaseView, refund: ActionView | None) -> bool:
    """The case's own refund is pending, and nothing else of the case is."""
    pending = [a for a in case.actions if a.status in PENDING_ACTION_STATUSES]
    return refund is not None and [a.id for a in pending] == [refund.id]


def _formatted(amount: int, finding: dict[str, Any], facts: Facts) -> str:
    return Money(amount, str(finding["currency"])).format(facts["locale"])


def _first_steps(finding: dict[str, Any], facts: Facts) -> list[ActionSpec]:
    """Void, exit recognition, refund: none waits for another."""
    invoice = str(finding["invoice"])
    steps = []
    duplicate: Invoice | None = facts["duplicate"]
    if duplicate is None or duplicate.status is not InvoiceStatus.VOIDED:
        steps.append(ActionSpec(VOID, invoice, {"invoice": invoice, "unapply_payments": True}))
    steps.append(ActionSpec(EXIT, invoice, {"invoice": invoice, "reason": REFUND_REASON}))
    # A charge refunded by hand, even in part, is not refunded again (see ``decide``).
    if facts["refunded_by_hand"] == 0:
        steps.append(
            ActionSpec(
                REFUND,
                str(finding["charge"]),
                {
                    "charge": finding["charge"],
                    "amount": int(finding["amount"]),
                    "currency": finding["currency"],
                    "reason": REFUND_REASON,
                    "metadata": {CASE_METADATA: invoice},
                },
            )
        )
    return steps


def _after_refund(
    finding: dict[str, Any], facts: Facts, refund: ActionView | None, policy: Policy
) -> list[ActionSpec]:
    """Once Stripe has refunded: the customer refund in NetSuite, and the apology. ``refund``
    is the case's own, applied; None when the charge was refunded by hand."""
    amount = int(finding["amount"])
    money = Money(amount, str(finding["currency"]))
    by = (
        f"Stripe refund {(refund.result or {}).get('refund')}"
        if refund
        else "Stripe refund made by hand"
    )
    customer_refund = ActionSpec(
        CUSTOMER_REFUND,
        str(finding["payment"]),
        {
            "payment": finding["payment"],
            "amount": amount,
            "currency": finding["currency"],
            "account": policy.refunds_gl,
            "memo": f"{by} of duplicate invoice {finding['invoice_number']}",
        },
    )
    sender, recipient = facts["sender"], facts["recipient"]
    if not sender or not recipient:
        return [customer_refund]
    first_name = str(recipient["name"]).split()[0] if recipient["name"] else "there"
    kept = finding["kept_invoice_number"]
    line = (
        f"Sorry — we invoiced you twice for the same thing: we have voided invoice "
        f"{finding['invoice_number']} and refunded its {money.format(facts['locale'])} charge, "
        f"and invoice {kept} stands for your records."
    )
    email = ActionSpec(
        EMAIL,
        str(finding["invoice"]),
        {
            "from": sender,
            "to": [recipient["email"]],
            "subject": f"Invoice {finding['invoice_number']} was a duplicate — refunded",
            "body": f"Hello {first_name},\n\n{line}\n\n{sender['name']}",
        },
    )
    return [customer_refund, email]
