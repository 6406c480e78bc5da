"""Orphan payment investigation: a Stripe payment with no NetSuite invoice behind it.

The AR specialist's procedure: pull the payer's email from Stripe, search NetSuite for the variants
of it (the address itself — on file exactly, case aside, it is the strongest evidence — then dots
and ``+tags``, a letter of the address or its domain wrong, missing, extra or swapped, a known
domain typo) to find the customer it was probably meant for, and check whether the payment came
through a manual Checkout link rather than the customer portal. What is found is proposed with its
evidence, for the AR specialist to apply. If nothing explains the payment within
``orphan_outreach_after_minutes``, the cardholder gets an email asking what it was for and the case
waits in the AR specialist's queue. The payment is never parked in a suspense account.

The case closes when NetSuite records the payment: by its own match once approved, or otherwise
— from its invoice by a later morning's run, or by the AR specialist with the Stripe charge id —
which it looks for after each working morning's run and whenever a person asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from revline.config import Policy
from revline.core.actions import shadowed_again
from revline.core.cases import CaseKind, CaseView
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
from revline.money import Money
from revline.playbooks.cash.duplicates import EXIT, REFUND_REASON, VOID, find_duplicates
from revline.playbooks.cash.flags import FINDING_SOURCE, ORPHAN_FLAGGED
from revline.playbooks.cash.payout_variance import after_next_morning
from revline.providers.base import ProviderError
from revline.providers.netsuite.records import Customer, Invoice, InvoiceStatus
from revline.reconcile import emails

ORPHAN_PAYMENT = CaseKind(
    name="orphan_payment",
    initial="investigating",
    transitions={
        "investigating": frozenset({"match_proposed", "awaiting_cardholder", "resolved"}),
        "match_proposed": frozenset({"resolved", "awaiting_cardholder"}),
        "awaiting_cardholder": frozenset({"match_proposed", "resolved"}),
        # Its payment found an orphan again: the customer payment recorded for it was voided.
        "resolved": frozenset({"investigating", "match_proposed"}),
    },
    terminal=frozenset({"resolved"}),
)
QUEUE = "ar_specialist"


APPLY_MATCH = "netsuite.customer_payment.create"


class OrphanPaymentInvestigation(Playbook):
    name = "orphan_payment"
    case_kind = ORPHAN_PAYMENT
    # Applying a proposed match is an action the AR specialist approves; its outcome closes
    # the case (or brings a refusal back to her).
    follows_outcomes = True

    def case_for(self, event: EventView) -> CaseRef | None:
        if event.source != FINDING_SOURCE or event.type != ORPHAN_FLAGGED:
            return None
        return CaseRef(subject=str(event.payload["charge"]))

    def enrich(self, case: CaseView, trigger: Trigger, enrichment: Enrichment) -> Facts:
        if trigger.kind not in ("event", "timer", "manual"):
            return Facts(trigger)
        stripe = enrichment.adapters["stripe"]
        netsuite = enrichment.adapters["netsuite"]
        charge = stripe.get_charge(case.subject)
        # Recorded since, however: the case has nothing left to find.
        recorded = [p.id for p in netsuite.customer_payments_by_charge(charge.id)]
        # The Stripe customer the charge was made for: its NetSuite customer by the Stripe
        # customer id on file (the stable-ID mapping: exact evidence), and its email when the
        # charge carries none — a saved card paying in the portal often has no billing email.
        mapped, ambiguous = _mapped(netsuite, charge.customer)
        payer = charge.billing_email or charge.receipt_email
        if not payer and charge.customer:
            payer = _email_of(stripe, charge.customer)
        checkout = (
            stripe.checkout_session_for(charge.payment_intent) if charge.payment_intent else None
        )
        found: list[emails.EmailMatch] = []
        if payer:
            on_file = netsuite.customer_emails(emails.variants(payer))
            found = emails.find(payer, [(e.email, e.customer_id, e.customer_name) for e in on_file])
        # The customer the payment was probably meant for: one, or none when the likeliest
        # addresses belong to several customers (a shared AP mailbox, two names one letter
        # apart) and picking one would be a guess.
        likeliest = {m.customer_id for m in emails.best(found)}
        customer = mapped.id if mapped else likeliest.pop() if len(likeliest) == 1 else None
        # What the invoice still owes, not its total: a part-paid invoice takes only the rest,
        # and NetSuite refuses a payment for more.
        invoices = [
            invoice
            for invoice in (netsuite.open_invoices(customer) if customer is not None else [])
            if invoice.amount_remaining == charge.amount
            and invoice.currency == charge.currency.upper()
        ]
        sender = enrichment.company.people.get("ar_specialist")
        return Facts(
            trigger,
            {
                "charge": charge,
                "recorded": recorded,
                "payer": payer,
                "mapped": {"id": mapped.id, "name": mapped.name} if mapped else None,
                "ambiguous_mapping": ambiguous,
                "checkout_session": checkout.id if checkout else None,
                "candidates": found,
                "customer": customer,
                "invoices": invoices,
                "sender": sender.model_dump() if sender else None,
                "locale": enrichment.company.locale,
                "calendar": enrichment.calendar,
            },
        )

    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        trigger = facts.trigger
        outcome = trigger.event.payload if trigger.kind == "action" and trigger.event else None
        if outcome is not None and outcome.get("kind") in (VOID, EXIT):
            # A copy's void or recognition exit: done, nothing to say; failed — after the match
            # resolved the case, as often as not — the copy is the AR specialist's.
            if outcome.get("status") != "failed":
                return Decision(f"{outcome.get('kind')} {outcome.get('status')}")
            return Decision(
                f"{outcome.get('kind')} of {outcome.get('subject')} failed "
                f"({outcome.get('error')}): the copy is the AR specialist's to settle",
                queue=QUEUE,
            )
        if outcome is not None and case.state != "resolved":
            return _match_outcome(outcome)
        again = _found_again(case, trigger)
        if trigger.kind not in ("event", "timer", "manual") or (
            case.state == "resolved" and not again
        ):
            return Decision("nothing new for this orphan payment")
        recorded: list[str] = facts["recorded"]
        if recorded:
            payments = ", ".join(recorded)
            return Decision(
                f"NetSuite records the payment (customer payment {payments}): nothing left to "
                "find; its payout is deposited on the next morning's run",
                state="resolved",
                next_action_at=None,
                cancel_pending=f"NetSuite records the payment (customer payment {payments})",
                queue=None,
            )
        if again:
            return self._reopened(case, facts, again, policy, now)
        # Waiting for the books: a match proposed, the cardholder asked, or opened again after
        # a voided payment (the AR specialist's then: nobody is asked).
        waiting = case.state in ("match_proposed", "awaiting_cardholder") or bool(
            case.data.get("voided")
        )
        if waiting or trigger.kind == "manual":
            # The flag again, a look after a morning's run, or a person asking: what was found
            # and asked stands until NetSuite records the payment. A person asking while the
            # first investigation still runs leaves its outreach timer as it is.
            recheck = after_next_morning(facts["calendar"], policy, now)
            # What this state proposed while the playbook ran in shadow (the match, the email to
            # the cardholder) is proposed again, as it stands: live, that takes it live. Not
            # after a voided payment: the AR specialist's then, and nobody is asked.
            proposed: list[ActionSpec] = []
            if not case.data.get("voided"):
                proposed += _steps(facts, _evidence(facts, policy), policy)
                if case.state == "awaiting_cardholder":
                    proposed += _outreach_email(case, facts)
            return Decision(
                f"NetSuite records no payment for charge {case.subject} yet"
                + (f": looked again at {recheck.isoformat()}" if waiting else ""),
                actions=shadowed_again(case, self.name, proposed),
                next_action_at=recheck if waiting else KEEP,
            )
        evidence = _evidence(facts, policy)
        if evidence:
            undecided = (
                "; the payer's email fits several customers as well: the AR specialist chooses"
                if facts["candidates"] and facts["customer"] is None
                else ""
            )
            return Decision(
                "cause found: " + "; ".join(evidence) + undecided,
                state="match_proposed",
                actions=_steps(facts, evidence, policy),
                next_action_at=after_next_morning(facts["calendar"], policy, now),
                data={"evidence": evidence, **_proposal(facts)},
                queue=QUEUE,
            )
        if trigger.kind == "event":
            deadline = case.opened_at + timedelta(minutes=policy.orphan_outreach_after_minutes)
            return Decision(
                "no customer or Checkout link explains the payment yet; the cardholder is "
                f"asked at {deadline.isoformat()} if nothing turns up",
                next_action_at=deadline,
                data={"payer": facts["payer"], **_mapping(facts)},
            )
        return self._outreach(case, facts, after_next_morning(facts["calendar"], policy, now))

    def _reopened(
        self, case: CaseView, facts: Facts, voided: list[str], policy: Policy, now: datetime
    ) -> Decision:
        """Found an orphan again after the payment recorded for it was voided: a person undid
        the match, so the AR specialist decides what it is now; what the search finds is
        proposed again (its match keyed anew), and the cardholder is not asked a second time."""
        evidence = _evidence(facts, policy)
        gone = ", ".join(voided)
        return Decision(
            f"the payment is an orphan again: customer payment {gone} recorded for it was "
            "voided in NetSuite"
            + (": " + "; ".join(evidence) if evidence else "; nothing else explains it")
            + "; the AR specialist decides",
            state="match_proposed" if evidence else "investigating",
            actions=_apply_match(
                facts, evidence, _owed(facts, policy)[0], f"after-voided-{'-'.join(voided)}"
            ),
            next_action_at=after_next_morning(facts["calendar"], policy, now),
            data={"evidence": evidence, **_proposal(facts), "voided": voided},
            queue=QUEUE,
        )

    def _outreach(self, case: CaseView, facts: Facts, recheck: datetime) -> Decision:
        email = _outreach_email(case, facts)
        if not email:
            return Decision(
                "no cause found and no address to write to: the AR specialist takes it",
                state="awaiting_cardholder",
                next_action_at=recheck,
                queue=QUEUE,
            )
        return Decision(
            "no cause found within the outreach window: the cardholder is asked what the "
            "payment was for, and the case waits with the AR specialist",
            state="awaiting_cardholder",
            actions=email,
            next_action_at=recheck,
            queue=QUEUE,
        )


def _outreach_email(case: CaseView, facts: Facts) -> tuple[ActionSpec, ...]:
    """The email asking the cardholder what the payment was for; none without an address to
    write to or an AR specialist to write from."""
    charge = facts["charge"]
    payer = facts["payer"]
    sender = facts["sender"]
    if not payer or not sender:
        return ()
    amount = Money(charge.amount, charge.currency.upper()).format(facts["locale"])
    # The company's business date, as its books date the payment, not the UTC one.
    paid_on = facts["calendar"].business_date(charge.created).isoformat()
    body = (
        f"Hello,\n\nWe received your card payment of {amount} on {paid_on} (reference "
        f"{charge.id}), but we cannot match it to an invoice. Could you tell us which "
        "invoice or account it was for? A one-line reply is enough.\n\n"
        f"Thank you,\n{sender['name']}"
    )
    email = ActionSpec(
        "email.send",
        subject=case.subject,
        params={
            "from": sender,
            "to": [payer],
            "subject": f"Your payment of {amount} on {paid_on}",
            "body": body,
        },
    )
    return (email,)


def _mapped(netsuite: Any, stripe_customer: str | None) -> tuple[Customer | None, str | None]:
    """The NetSuite customer carrying the charge's Stripe customer id, or why none is taken:
    several carry it (the email search decides, and the evidence says so)."""
    if not stripe_customer:
        return None, None
    try:
        return netsuite.customer_by_stripe_id(stripe_customer), None
    except ProviderError as exc:
        if exc.provider_code != "ambiguous_customer":
            raise
        return None, exc.message


def _email_of(stripe: Any, customer_id: str) -> str | None:
    """The email on the charge's Stripe customer; none when Stripe deleted the customer."""
    try:
        email: str | None = stripe.get_customer(customer_id).email
    except ProviderError as exc:
        if exc.provider_code != "resource_missing":
            raise
        return None
    return email


def _owed(facts: Facts, policy: Policy) -> tuple[Invoice | None, list[Invoice]]:
    """The open invoice the payment settles, and its copies: the one invoice owing the
    payment's amount; or, when several do and they are one obligation invoiced more than once
    within ``duplicate_invoice_window_days`` (seed: "two invoices raised for the same charge"),
    the one that stands (the older) and the copies of it. None when it cannot be told."""
    owing: list[Invoice] = facts["invoices"]
    if len(owing) == 1:
        return owing[0], []
    pairs = find_duplicates(owing, policy.duplicate_invoice_window_days, InvoiceStatus.OPEN)
    if len({p.kept.id for p in pairs}) == 1 and len(pairs) == len(owing) - 1:
        return pairs[0].kept, [p.duplicate for p in pairs]
    return None, []


def _steps(facts: Facts, evidence: list[str], policy: Policy) -> tuple[ActionSpec, ...]:
    """What the AR specialist approves: the match, and each copy of the invoice it settles
    voided (a void, never a credit memo) and taken out of the recognition schedule."""
    owed, copies = _owed(facts, policy)
    steps = list(_apply_match(facts, evidence, owed))
    if owed is None:
        return tuple(steps)
    for copy in copies:
        why = (
            f"{copy.number} copies {owed.number}: one obligation invoiced twice, and the "
            "payment settles the one that stands"
        )
        steps += [
            ActionSpec(
                VOID,
                subject=copy.id,
                params={"invoice": copy.id, "unapply_payments": False},
                requires_role=QUEUE,
                approval_reason=f"void {copy.number} (a void, not a credit memo): {why}",
            ),
            ActionSpec(
                EXIT,
                subject=copy.id,
                params={"invoice": copy.id, "reason": REFUND_REASON},
                requires_role=QUEUE,
                approval_reason=f"take {copy.number} out of the recognition schedule: {why}",
            ),
        ]
    return tuple(steps)


def _evidence(facts: Facts, policy: Policy) -> list[str]:
    found = []
    mapped = facts["mapped"]
    if mapped:
        found.append(
            f"the charge's Stripe customer {facts['charge'].customer} is NetSuite customer "
            f"{mapped['id']} ({mapped['name']}), by the Stripe customer id on file"
        )

    for candidate in facts["candidates"]:
        how = (
            "is on file as"
            if candidate.kind == "exact"
            else f"is a {candidate.kind.replace('_', ' ')} of"
        )
        found.append(
            f"payer email {facts['payer']} {how} {candidate.address} ({candidate.customer_name}, "
            f"NetSuite customer {candidate.customer_id})"
        )
    if facts["checkout_session"]:
        found.append(
            f"paid through a manual Checkout link (session {facts['checkout_session']}), "
            "not the customer portal"
        )
    owed, copies = _owed(facts, policy)
    if owed is not None and copies:
        numbers = ", ".join(copy.number for copy in copies)
        one = len(copies) == 1
        found.append(
            f"{numbers} {'copies' if one else 'copy'} {owed.number} (dated "
            f"{owed.date.isoformat()}): one obligation invoiced more than once; the payment "
            f"settles {owed.number}, and {numbers} {'is' if one else 'are'} voided and taken "
            "out of the recognition schedule"
        )
    return found


def _proposal(facts: Facts) -> dict[str, Any]:
    return {
        "proposed_customer": facts["customer"],
        "proposed_invoices": [{"id": i.id, "number": i.number} for i in facts["invoices"]],
        **_mapping(facts),
    }


def _mapping(facts: Facts) -> dict[str, Any]:
    """Why the Stripe customer id on file named no customer, when several carry it: no cause,
    but the AR specialist needs to know (the email search decided)."""
    ambiguous = facts.values.get("ambiguous_mapping")
    return {"stripe_customer_on_file": ambiguous} if ambiguous else {}


def _found_again(case: CaseView, trigger: Trigger) -> list[str]:
    """The customer payments voided, when this trigger is the payment found an orphan again
    after the one recorded for it was voided (the morning's flag says which); else none."""
    event = trigger.event
    if trigger.kind != "event" or event is None or case.state != "resolved":
        return []
    return [str(payment) for payment in event.payload.get("voided") or []]


def _apply_match(
    facts: Facts, evidence: list[str], owed: Invoice | None, attempt: int | str = 1
) -> tuple[ActionSpec, ...]:
    """With the open invoice the payment settles known (``_owed``), the match is ready to
    apply — recording the payment against it — once the AR specialist approves.

    The payment is dated the day the customer paid (the company's business date of the charge),
    as the connector would have recorded it, not the day the match is applied: the payout that
    carried it arrived on or after that day, so its deposit is never dated before the payment,
    and a match applied after month end does not leave the month's Undeposited Funds short."""
    if owed is None:
        return ()
    charge = facts["charge"]
    paid_on = facts["calendar"].business_date(charge.created).isoformat()
    return (
        ActionSpec(
            APPLY_MATCH,
            subject=charge.id,
            attempt=attempt,
            params={
                "invoice": owed.id,
                "charge": charge.id,
                "amount": charge.amount,
                "currency": charge.currency.upper(),
                "date": paid_on,
            },
            requires_role=QUEUE,
            approval_reason=(
                f"apply the proposed match to invoice {owed.number}: " + "; ".join(evidence)
            ),
        ),
    )


def _match_outcome(outcome: Mapping[str, Any]) -> Decision:
    """What became of applying the match."""
    if outcome.get("kind") != APPLY_MATCH:
        return Decision(f"{outcome.get('kind')} {outcome.get('status')}")
    if outcome.get("status") == "applied":
        result = outcome.get("result") or {}
        return Decision(
            f"the match was applied: customer payment {result.get('payment')} recorded against "
            f"invoice {outcome['params'].get('invoice')}; the payout is deposited on the next "
            "morning's run",
            state="resolved",
            queue=None,
        )
    return Decision(
        f"applying the match failed ({outcome.get('error')}): the AR specialist takes it",
        queue=QUEUE,
    )
