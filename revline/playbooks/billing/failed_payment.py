"""Failed-payment recovery: one ``failed_payment`` case per failed subscription invoice.

Seed 000 ("Retrying a failed charge", "Pausing revenue recognition") and seed 002 (the personal
email to a high-value customer), as pure decisions:

1. a retryable failure leaves Stripe's immediate automatic retry to fire; when that fails too,
   Revline takes manual control of the invoice and retries it every three cadence days;
2. from the second failed charge, recognition is held in NetSuite until a charge settles;
3. above the MRR threshold, Stripe's dunning is suppressed and, once a manual retry has failed,
   a personal email goes out with the senior RevOps manager's approval; the next retry is three
   cadence days after the send, or the morning after a date the customer promised;
4. after the last manual attempt the case goes to a person (high value) or closes as exhausted;
5. any successful payment cancels what is pending, restores dunning, resumes recognition on the
   settlement date and closes the case as recovered.

Nothing here suspends, downgrades or cancels: a failed payment is a transient event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from revline.clock import WorkingCalendar
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
from revline.money import Money
from revline.playbooks.billing import email
from revline.playbooks.billing.cadence import next_retry_at, retry_after_promise
from revline.playbooks.billing.decline import DeclineKind, classify, is_fraud, plain_reason
from revline.playbooks.billing.facts import Account, Person, Signal, read_signal
from revline.providers.base import ProviderError

PLAYBOOK = "failed_payment"
HOLD_REASON = "dunning"
# How long after Stripe's announced automatic retry Revline waits for its outcome before it takes
# manual control anyway (a retry that never reports must not leave the invoice unattended).
SMART_RETRY_GRACE = timedelta(hours=24)
SENIOR_REVOPS = "senior_revops_manager"
BILLING_ANALYST = "billing_analyst"
APPROVER_ROLE = "revops_manager"

PAY = "stripe.invoice.pay"
STOP_AUTO_RETRY = "stripe.invoice.stop_auto_retry"
SEND_INVOICE = "stripe.invoice.send"
SUPPRESS = "stripe.customer.suppress_dunning"
RESTORE = "stripe.customer.restore_dunning"
PORTAL_LINK = "stripe.portal_link.create"
EMAIL = "email.send"
LOG_MESSAGE = "netsuite.customer.log_message"
HOLD = "netsuite.revenue.hold"
RESUME = "netsuite.revenue.resume"
EXCLUDE = "netsuite.customer.exclude_from_pipeline"
INCLUDE = "netsuite.customer.include_in_pipeline"

# Statuses of an action that did, or still may, take effect.
LIVE_STATUSES = frozenset({"proposed", "awaiting_approval", "approved", "executing", "held"})
TOOK_EFFECT = frozenset({"applied", "executing"})


class State(StrEnum):
    AWAITING_SMART_RETRY = "awaiting_smart_retry"  # Stripe's own immediate retry is to come
    RETRYING = "retrying"  # Revline holds the invoice; the next manual retry is on the timer
    PREPARING_EMAIL = "preparing_email"  # portal link and suppression check before the email
    AWAITING_APPROVAL = "awaiting_approval"  # the personal email waits for the manager
    PROMISED = "promised"  # the customer gave a date; the retry is the morning after it
    NEEDS_CARD_UPDATE = "needs_card_update"  # hard decline: no retries until a new card
    ESCALATED = "escalated"  # on a person's queue: fraud, dispute, retries used up (high value)
    RECOVERED = "recovered"  # paid
    EXHAUSTED = "exhausted"  # retries used up below the threshold; recognition stays held


_OPEN = frozenset(State) - {State.RECOVERED, State.EXHAUSTED}
FAILED_PAYMENT = CaseKind(
    name="failed_payment",
    initial=State.AWAITING_SMART_RETRY,
    transitions={
        **{state: frozenset(State) - {State.AWAITING_SMART_RETRY, state} for state in _OPEN},
        # A payment after the retries ran out still recovers the invoice.
        State.EXHAUSTED: frozenset({State.RECOVERED}),
    },
    terminal=frozenset({State.RECOVERED, State.EXHAUSTED}),
)


# Stripe's word on a subscription invoice that concerns its case: a failure opens it; a payment,
# or the invoice voided or marked uncollectible in the dashboard, ends what it was doing (an email
# waiting for approval must not go out about an invoice nobody owes any more).
CASE_EVENTS = frozenset(
    {"invoice.payment_failed", "invoice.paid", "invoice.voided", "invoice.marked_uncollectible"}
)


class FailedPaymentRecovery(Playbook):
    """The playbook: routing, enrichment and the decision."""

    name = PLAYBOOK
    case_kind = FAILED_PAYMENT
    follows_outcomes = True

    def case_for(self, event: EventView) -> CaseRef | None:
        if event.source == "sandbox" and event.type == "customer.replied":
            invoice = event.payload.get("invoice")
            if not isinstance(invoice, str):
                return None
            customer = event.payload.get("stripe_customer")
            return CaseRef(invoice, str(customer) if customer else None, opens=False)
        if event.source == "stripe" and event.type == "customer.updated":
            return _card_saved(event)
        if event.source != "stripe" or event.type not in CASE_EVENTS:
            return None
        invoice = (event.payload.get("data") or {}).get("object") or {}
        subscription = ((invoice.get("parent") or {}).get("subscription_details") or {}).get(
            "subscription"
        )
        if not subscription or not isinstance(invoice.get("id"), str):
            return None  # one-off invoices are not dunned by this procedure
        customer = invoice.get("customer")
        return CaseRef(
            invoice["id"],
            customer if isinstance(customer, str) else None,
            # A payment only concerns an invoice already in dunning.
            opens=event.type == "invoice.payment_failed",
        )

    def enrich(self, case: CaseView, trigger: Trigger, enrichment: Enrichment) -> Facts:
        values: dict[str, Any] = {
            "signal": read_signal(trigger),
            "calendar": enrichment.calendar,
            "people": {
                role: Person(person.name, person.email)
                for role, person in enrichment.company.people.items()
            },
            "locale": enrichment.company.locale,
            "company_currency": enrichment.company.currency,
        }
        if case.state != State.RECOVERED:
            values["account"] = gather_account(case.subject, enrichment)
        return Facts(trigger, values)

    def decide(self, case: CaseView, facts: Facts, policy: Policy, now: datetime) -> Decision:
        return _Deciding(case, facts, policy, now).decide()


def gather_account(invoice_id: str, enrichment: Enrichment) -> Account:
    """Stripe's invoice, customer, charges and settlement, and NetSuite's customer record."""
    stripe = enrichment.adapters["stripe"]
    netsuite = enrichment.adapters["netsuite"]
    invoice = stripe.get_invoice(invoice_id, with_last_failure=True)
    customer = stripe.get_customer(invoice.customer)
    # A dispute still open on any of the customer's charges (Stripe keeps a charge "disputed"
    # for good: a dispute won or lost long ago is no reason to stop dunning).
    disputed = any(
        dispute.open
        for charge in stripe.list_charges(invoice.customer)
        if charge.disputed
        for dispute in stripe.list_disputes(charge.id)
    )
    settled = stripe.invoice_settlement(invoice_id) if invoice.status == "paid" else None
    unpaid = stripe.list_invoices(customer=invoice.customer, status="open")
    # The customer's other invoices in dunning: a subscription's, failed (a one-off invoice
    # never enters dunning — no case, nothing that would ever resume recognition after it).
    others = tuple(
        other.id
        for other in unpaid
        if other.id != invoice_id and other.attempt_count > 0 and other.subscription is not None
    )
    # Every attempt on an unpaid invoice is a failed charge: summed over the subscription's
    # unpaid invoices (last month's included), they are rule 4's "failed charges on the same
    # subscription".
    subscription_failures = sum(
        other.attempt_count
        for other in unpaid
        if invoice.subscription is not None and other.subscription == invoice.subscription
    )
    record = netsuite.customer_by_stripe_id(invoice.customer)
    ap = record.accounts_payable_contact if record else None
    owner = record.relationship_owner if record else None
    # Paid: is the customer's recognition on hold for dunning (this case's hold, or another's
    # that left it for the last invoice in dunning to resume)? A hold for another reason (a
    # contract under review) is a person's, and so is the exclusion that may go with it.
    held = (
        invoice.status == "paid"
        and record is not None
        and any(
            plan.on_hold and plan.hold_reason == HOLD_REASON
            for plan in netsuite.revenue_plans(record.id)
        )
    )
    mrr, mrr_unknown = None, None
    if record is None:
        mrr_unknown = f"no NetSuite customer carries Stripe customer {invoice.customer}"
    else:
        try:
            mrr = netsuite.trailing_mrr(
                record.id, enrichment.calendar.business_date(enrichment.clock.now())
            )
        except ProviderError as exc:
            if exc.provider_code != "mixed_currencies":
                raise
            mrr_unknown = exc.message
    return Account(
        invoice=invoice.id,
        invoice_number=invoice.number,
        invoice_status=invoice.status,
        amount_due=invoice.amount_remaining or invoice.amount_due,
        currency=invoice.currency,
        attempt_count=invoice.attempt_count,
        subscription=invoice.subscription,
        stripe_customer=invoice.customer,
        last_failure_code=invoice.last_failure_code,
        last_decline_code=invoice.last_decline_code,
        dispute_open=disputed,
        dunning_suppressed=customer.metadata.get("revline_dunning") == "suppressed",
        card_on_file=customer.default_payment_method,
        settled_on=settled.date() if settled else None,
        other_failed_invoices=others,
        recognition_held=held,
        subscription_failures=subscription_failures,
        netsuite_customer=record.id if record else None,
        customer_name=record.name if record else customer.name,
        mrr=mrr.amount if mrr else 0,
        mrr_currency=mrr.currency if mrr else None,
        mrr_unknown=mrr_unknown,
        ap_contact=Person(ap.name, ap.email, ap.first_name) if ap and ap.email else None,
        relationship_owner=Person(owner.name, owner.email) if owner and owner.email else None,
    )


@dataclass
class _Deciding:
    """One decision: the case, its facts, policy and the time."""

    case: CaseView
    facts: Facts
    policy: Policy
    now: datetime

    # -- entry ----------------------------------------------------------------------------

    def decide(self) -> Decision:
        signal: Signal = self.facts["signal"]
        account: Account | None = self.facts.get("account")
        state = State(self.case.state)
        if state is State.RECOVERED or account is None:
            return self._after_recovery(signal)
        if account.invoice_status == "paid":
            return self._recovered(account, signal)
        if state is State.EXHAUSTED:
            return self._bookkeeping(signal, account, "the case is closed as exhausted")
        if account.invoice_status in ("void", "uncollectible"):
            # Not paid: nothing settles it, so the hold this case placed is not lifted by itself.
            held = (
                "; recognition stays held for dunning (and the customer out of the pipeline "
                "reports) until the billing analyst releases it"
                if self._took_effect(HOLD)
                else ""
            )
            return self._to_person(
                BILLING_ANALYST,
                f"Stripe shows invoice {account.invoice} as {account.invoice_status}: "
                f"dunning stops and a person reviews it{held}",
                cancel=True,
            )
        if account.dispute_open and state is not State.ESCALATED:
            return self._to_person(
                SENIOR_REVOPS,
                "the customer has an open dispute: no retries or emails until a person decides",
                cancel=True,
                flags={"dispute_open": True},
            )
        unknown = self._tier_unknown(account)
        if unknown is not None and signal.kind == "payment_failed":
            # Which path — the personal email above the threshold, Stripe's dunning below — and
            # the NetSuite customer whose recognition a hold would stop are not known: nothing
            # is guessed, the billing analyst takes it.
            return self._to_person(
                BILLING_ANALYST,
                f"the customer's tier cannot be told ({unknown}): no retries, holds or emails "
                "until a person decides",
                data={"tier_unknown": unknown},
            )
        if signal.kind == "payment_failed":
            return self._on_failure(signal, account)
        if signal.kind == "outcome":
            return self._on_outcome(signal, account)
        if signal.kind == "promise":
            return self._on_promise(signal)
        if signal.kind == "timer":
            return self._on_timer(account)
        if signal.kind == "invoice_paid":
            return self._contradiction(
                "Stripe reported the invoice paid, but the invoice itself is still "
                f"{account.invoice_status}: the invoice's own status is the truth"
            )
        return Decision(f"nothing to do for a {signal.kind} signal in {state}")

    # -- failures -------------------------------------------------------------------------

    def _failures(self, account: Account, signal: Signal) -> int:
        seen = int(self.case.data.get("failures", 0))
        from_stripe = account.attempt_count if account.invoice_status == "open" else 0
        from_event = signal.attempt_count if signal.kind == "payment_failed" else 0
        return max(seen, from_stripe, from_event)

    def _on_failure(self, signal: Signal, account: Account) -> Decision:
        failures = self._failures(account, signal)
        code, decline = account.last_failure_code, account.last_decline_code
        data = {
            "failures": failures,
            "failure_code": code,
            "decline_code": decline,
            "reason": plain_reason(code, decline),
        }
        if self.case.state != State.AWAITING_SMART_RETRY:
            # A manual retry's own failure event: its outcome drives the next step.
            holds = self._hold_if_due(account, failures)
            return Decision(
                f"charge failure {failures} on the invoice recorded ({code})",
                actions=holds,
                data={**data, **self._hold_data(holds)},
            )
        kind = classify(code, decline, self.policy)
        if is_fraud(code, decline):
            return self._to_person(
                SENIOR_REVOPS,
                "the bank declined the charge as fraudulent: no retries and no customer contact "
                "until a person decides",
                data=data,
                flags={"fraud_suspected": True},
            )
        if kind is DeclineKind.HARD:
            return self._hard_decline(account, failures, data)
        if kind is DeclineKind.UNKNOWN:
            return self._to_person(
                BILLING_ANALYST,
                f"Stripe reported {decline or code}, which policy lists neither as retryable nor "
                "as a hard decline",
                data=data,
            )
        if failures < 2:
            expected = signal.next_payment_attempt or signal.at
            # An earlier unpaid invoice of the subscription may make this the second failure.
            holds = self._hold_if_due(account, failures)
            return Decision(
                f"the charge failed ({code}); Stripe's immediate automatic retry is left to fire"
                + (
                    f"; the subscription has {account.subscription_failures} failed charges: "
                    "recognition is held"
                    if holds
                    else ""
                ),
                actions=holds,
                next_action_at=max(expected, self.now) + SMART_RETRY_GRACE,
                data={**data, **self._hold_data(holds), "first_failed_at": signal.at.isoformat()},
            )
        return self._take_manual_control(account, failures, signal.at, data)

    def _take_manual_control(
        self, account: Account, failures: int, failed_at: datetime, data: Mapping[str, Any]
    ) -> Decision:
        high = self._high_value(account)
        # Suppression follows once manual control is confirmed (see _on_outcome): one order,
        # whatever the executor's retries, so the invoice ends in the same state every time.
        actions = [self._spec(STOP_AUTO_RETRY, {"invoice": account.invoice})]
        holds = self._hold_if_due(account, failures)
        due = max(next_retry_at(failed_at, self._calendar, self.policy), self.now)
        return Decision(
            f"Stripe's automatic retry failed too: Revline takes manual control of "
            f"{account.invoice} and retries on {self._local(due)}"
            + ("; Stripe's automated dunning is suppressed (high value)" if high else ""),
            state=State.RETRYING,
            actions=(*actions, *holds),
            next_action_at=due,
            data={
                **data,
                **self._tier(account),
                **self._hold_data(holds),
                "manual_control_at": self.now.isoformat(),
                "manual_attempts": int(self.case.data.get("manual_attempts", 0)),
                "dunning_suppressed": high,
            },
            queue=None,
        )

    def _hard_decline(self, account: Account, failures: int, data: Mapping[str, Any]) -> Decision:
        """No retries on a hard decline: the customer is asked for another card. Above the
        threshold that is the personal email; below it, Stripe's automated dunning asks."""
        holds = self._hold_if_due(account, failures)
        base = {
            **data,
            **self._tier(account),
            **self._hold_data(holds),
            "hard_decline": True,
            "card_at_failure": account.card_on_file,
        }
        if self._high_value(account):
            prepared = self._prepare_email(account)
            return Decision(
                f"hard decline ({data['reason']}): no retries; the customer is asked personally "
                "to update the card",
                state=State.PREPARING_EMAIL,
                actions=(
                    self._spec(STOP_AUTO_RETRY, {"invoice": account.invoice}),
                    *prepared,
                    *holds,
                ),
                next_action_at=None,
                data={**base, "dunning_suppressed": True},
            )
        return Decision(
            f"hard decline ({data['reason']}): no retries; Stripe's automated dunning asks the "
            "customer to update the card, and Revline retries once a new card is on file",
            state=State.NEEDS_CARD_UPDATE,
            actions=holds,
            next_action_at=self._next_morning(),
            data=base,
        )

    # -- timers ---------------------------------------------------------------------------

    def _on_timer(self, account: Account) -> Decision:
        state = State(self.case.state)
        if state is State.AWAITING_SMART_RETRY:
            failures = self._failures(account, Signal("timer", self.now))
            return self._take_manual_control(
                account,
                failures,
                self.now,
                {"failures": failures, "smart_retry_unreported": True},
            )
        if state is State.NEEDS_CARD_UPDATE:
            return self._card_check(account)
        if state not in (State.RETRYING, State.PROMISED):
            return Decision(f"the timer has nothing to do in {state}")
        if self._live(PAY):
            return Decision("a manual retry is already under way", next_action_at=None)
        attempts = int(self.case.data.get("manual_attempts", 0))
        if attempts >= self.policy.max_manual_retries:
            return self._leave_retry_loop(account)
        attempt = attempts + 1
        return Decision(
            f"manual retry {attempt} of {self.policy.max_manual_retries} of {account.invoice}",
            state=State.RETRYING,
            actions=(self._spec(PAY, {"invoice": account.invoice}, attempt=attempt),),
            next_action_at=None,
            data={"manual_attempts": attempt, "last_retry_at": self.now.isoformat()},
        )

    def _card_check(self, account: Account) -> Decision:
        """A hard-declined invoice is retried once for each new card the customer saves."""
        card = account.card_on_file
        if card and card != self.case.data.get("card_at_failure") and not self._live(PAY):
            return Decision(
                "a new card is on file: one retry with it",
                actions=(self._spec(PAY, {"invoice": account.invoice}, attempt=f"card-{card}"),),
                next_action_at=None,
                data={"card_retried": card},
            )
        return Decision("no new card on file yet", next_action_at=self._next_morning())

    # -- outcomes -------------------------------------------------------------------------

    def _on_outcome(self, signal: Signal, account: Account) -> Decision:
        kind, status = signal.action_kind, signal.action_status
        if status == "failed":
            return self._action_failed(signal)
        if status == "cancelled":  # a person rejected it (cancellations by Revline are silent)
            return self._rejected(signal, account)
        if kind == PAY:
            return self._retry_outcome(signal, account)
        if kind == STOP_AUTO_RETRY and self._high_value(account):
            return Decision(
                "Revline has manual control of the invoice: Stripe's automated dunning is "
                "suppressed for the customer (high value)",
                actions=(self._suppress(account, self.case.subject),),
            )
        if kind == PORTAL_LINK:
            url = signal.result.get("url")
            return self._maybe_email(account, {"portal_url": url} if url else {})
        if kind == SUPPRESS and self.case.state == State.PREPARING_EMAIL:
            return self._maybe_email(account, {})
        if kind == EMAIL:
            return self._email_sent(signal, account)
        return self._bookkeeping(signal, account, f"{kind} applied")

    def _retry_outcome(self, signal: Signal, account: Account) -> Decision:
        outcome = signal.result.get("outcome")
        failures = self._failures(account, signal)
        if outcome != "declined":
            due = next_retry_at(self.now, self._calendar, self.policy)
            return Decision(
                f"the manual retry is {outcome}: the invoice is checked again on "
                f"{self._local(due)}",
                state=State.RETRYING,
                next_action_at=due,
            )
        code, decline = _text(signal.result.get("code")), _text(signal.result.get("decline_code"))
        data = {
            "failures": failures,
            "failure_code": code,
            "decline_code": decline,
            "reason": plain_reason(code, decline),
        }
        if self.case.state == State.NEEDS_CARD_UPDATE:
            return Decision(
                f"the retry with the new card was declined ({code})",
                data=data,
                next_action_at=self._next_morning(),
            )
        if is_fraud(code, decline):
            return self._to_person(
                SENIOR_REVOPS,
                "the bank declined the manual retry as fraudulent",
                data=data,
                flags={"fraud_suspected": True},
            )
        if classify(code, decline, self.policy) is DeclineKind.HARD:
            return self._hard_decline(account, failures, data)
        holds = self._hold_if_due(account, failures)
        attempts = int(self.case.data.get("manual_attempts", 0))
        data = {**data, **self._hold_data(holds)}
        stripe_email = self._stripe_dunning(account, attempts)
        told = "; Stripe emails the customer the invoice" if stripe_email else ""
        if attempts >= self.policy.max_manual_retries:
            leave = self._leave_retry_loop(account)
            return Decision(
                leave.explanation + told,
                state=leave.state,
                actions=(*leave.actions, *holds, *stripe_email),
                next_action_at=None,
                data={**data, **leave.data},
                queue=leave.queue,
            )
        if self._high_value(account) and not self.case.data.get("email_prepared_at"):
            return Decision(
                f"manual retry {attempts} was declined ({code}): a personal email to the "
                "accounts-payable contact is prepared",
                state=State.PREPARING_EMAIL,
                actions=(*self._prepare_email(account), *holds),
                next_action_at=None,
                data={**data, "email_prepared_at": self.now.isoformat()},
            )
        due = next_retry_at(signal.at, self._calendar, self.policy)
        return Decision(
            f"manual retry {attempts} was declined ({code}); the next is on {self._local(due)}"
            + told,
            state=State.RETRYING,
            actions=(*holds, *stripe_email),
            next_action_at=due,
            data=data,
        )

    def _stripe_dunning(self, account: Account, attempt: int) -> tuple[ActionSpec, ...]:
        """Rule 6: below the threshold the customer keeps Stripe's dunning. Manual control
        (``auto_advance`` off) stops Stripe emailing about the invoice by itself, so after each
        declined manual retry Revline has Stripe send its email (the invoice and its payment
        page). Above the threshold Stripe stays silent: the personal email speaks instead."""
        if self._high_value(account):
            return ()
        return (self._spec(SEND_INVOICE, {"invoice": account.invoice}, attempt=attempt),)

    def _leave_retry_loop(self, account: Account) -> Decision:
        attempts = self.policy.max_manual_retries
        if self._high_value(account):
            return Decision(
                f"{attempts} manual retries failed: the case goes to the senior RevOps manager",
                state=State.ESCALATED,
                next_action_at=None,
                data={"left_retry_loop_at": self.now.isoformat()},
                queue=SENIOR_REVOPS,
            )
        return Decision(
            f"{attempts} manual retries failed: retries stop, recognition stays held, and the "
            "billing analyst reviews the account",
            state=State.EXHAUSTED,
            next_action_at=None,
            data={"left_retry_loop_at": self.now.isoformat()},
            queue=BILLING_ANALYST,
        )

    # -- the personal email ---------------------------------------------------------------

    def _prepare_email(self, account: Account) -> tuple[ActionSpec, ...]:
        """Seed 002 step 3: a portal link (suppression, step 2, is checked before sending)."""
        return (self._spec(PORTAL_LINK, {"customer": account.stripe_customer}),)

    def _maybe_email(self, account: Account, data: Mapping[str, Any]) -> Decision:
        url = data.get("portal_url") or self.case.data.get("portal_url")
        if self.case.state != State.PREPARING_EMAIL or not url:
            return Decision("waiting for the billing-portal link", data=data)
        if not account.dunning_suppressed and self._live(SUPPRESS):
            return Decision("waiting for Stripe to confirm the dunning suppression", data=data)
        if not account.dunning_suppressed:
            return Decision(
                "Stripe's automated dunning is not suppressed yet: suppressed again before the "
                "personal email goes out",
                actions=(self._suppress(account, f"{self.case.subject}:before-email"),),
                data=data,
            )
        people: Mapping[str, Person] = self.facts["people"]
        sender = people.get(SENIOR_REVOPS)
        # Seed 002: from the senior RevOps manager, to the named accounts-payable contact, the
        # relationship owner copied — without any of them it is not the email the seed asks for.
        if sender is None or account.ap_contact is None or account.relationship_owner is None:
            missing = (
                "senior RevOps manager"
                if sender is None
                else "accounts-payable contact"
                if account.ap_contact is None
                else "relationship owner"
            )
            return self._to_person(
                SENIOR_REVOPS,
                f"no {missing} on record: the personal email cannot go out",
                data=data,
            )
        contact = account.ap_contact
        owner = account.relationship_owner
        try:
            message = email.compose(
                sender=email.Mailbox(sender.name, sender.email),
                contact=email.Mailbox(contact.name, contact.email),
                contact_first_name=email.first_name(contact.name, contact.first_name),
                relationship_owner=email.Mailbox(owner.name, owner.email),
                customer_name=account.customer_name or "your company",
                invoice_number=account.invoice_number or account.invoice,
                amount=Money(account.amount_due, account.currency),
                reason=str(self.case.data.get("reason") or plain_reason(None, None)),
                portal_url=str(url),
                locale=str(self.facts.get("locale", "en_US")),
            )
        except email.EmailNotAllowed as exc:
            return self._to_person(SENIOR_REVOPS, f"the personal email was not sent: {exc}")
        gated = self.policy.high_value_email_requires_approval
        spec = self._spec(
            EMAIL,
            {
                "from": message.sender.as_param(),
                "to": [message.to.as_param()],
                "cc": [m.as_param() for m in message.cc],
                "subject": message.subject,
                "body": message.body,
                "customer": account.stripe_customer,
                "invoice": account.invoice,
            },
            requires_role=APPROVER_ROLE if gated else None,
            approval_reason="a personal dunning email goes out with the senior RevOps "
            "manager's approval",
        )
        return Decision(
            f"personal email to {contact.name} prepared"
            + (", awaiting the senior RevOps manager's approval" if gated else ""),
            state=State.AWAITING_APPROVAL if gated else State.PREPARING_EMAIL,
            actions=(spec,),
            data=data,
        )

    def _email_sent(self, signal: Signal, account: Account) -> Decision:
        params = signal.params
        sent_at = _parse_time(signal.result.get("sent_at")) or signal.at
        sender = params.get("from") or {}
        to = params.get("to") or [{}]
        log = self._spec(
            LOG_MESSAGE,
            {
                "customer": account.netsuite_customer or account.stripe_customer,
                "sent_at": sent_at.isoformat(),
                "author": sender.get("email"),
                "recipient": to[0].get("email"),
                "cc": [c.get("email") for c in params.get("cc") or []],
                "subject": params.get("subject"),
                "body": params.get("body"),
            },
        )
        data = {"email_sent_at": sent_at.isoformat()}
        if self.case.data.get("hard_decline"):
            return Decision(
                "personal email sent and logged on the NetSuite timeline; waiting for a new card",
                state=State.NEEDS_CARD_UPDATE,
                actions=(log,),
                next_action_at=self._next_morning(),
                data=data,
            )
        if self.case.state == State.PROMISED:
            return Decision(
                "personal email sent and logged; the promised date still sets the next retry",
                actions=(log,),
                data=data,
            )
        due = next_retry_at(sent_at, self._calendar, self.policy)
        return Decision(
            "personal email sent and logged on the NetSuite timeline; the next manual retry is "
            f"three cadence days after the send, on {self._local(due)}",
            state=State.RETRYING,
            actions=(log,),
            next_action_at=due,
            data=data,
        )

    def _action_failed(self, signal: Signal) -> Decision:
        if signal.action_kind == SEND_INVOICE:
            # Stripe's own email is a courtesy on top of the cadence, not a step of it: the
            # failed action waits in the manual queue, and the retries go on as scheduled.
            return Decision(
                f"Stripe did not send its invoice email ({signal.error}); the manual retries "
                "go on as scheduled",
                data={"stripe_email_failed": signal.error or "failed"},
            )
        return self._to_person(
            SENIOR_REVOPS if signal.action_kind in (EMAIL, PORTAL_LINK) else BILLING_ANALYST,
            f"{signal.action_kind} could not be carried out ({signal.error}): a person takes over",
            keep_state=signal.action_kind in (HOLD, RESUME, EXCLUDE, INCLUDE, LOG_MESSAGE, RESTORE),
        )

    def _rejected(self, signal: Signal, account: Account) -> Decision:
        """The senior RevOps manager refused the personal email (wrong moment, wrong words, she
        would rather call). Nothing is sent; the case comes to her queue with her reason, and
        the invoice is not left unattended: the manual retries go on, or, after a hard decline,
        the wait for a new card. Stripe's dunning stays suppressed: the customer hears from a
        person, as she decides."""
        why = signal.error or f"{signal.action_kind} was rejected"
        if signal.action_kind != EMAIL:
            return self._to_person(BILLING_ANALYST, why, keep_state=True)
        data = {"email_rejected": why, "email_rejected_at": self.now.isoformat()}
        if self.case.state == State.PROMISED:
            return Decision(
                f"{why}: no personal email; the promised date still sets the next retry",
                data=data,
                queue=SENIOR_REVOPS,
            )
        if self.case.data.get("hard_decline"):
            return Decision(
                f"{why}: no personal email; the senior RevOps manager has the case, and Revline "
                "retries once the customer saves a new card",
                state=State.NEEDS_CARD_UPDATE,
                next_action_at=self._next_morning(),
                data=data,
                queue=SENIOR_REVOPS,
            )
        if int(self.case.data.get("manual_attempts", 0)) >= self.policy.max_manual_retries:
            leave = self._leave_retry_loop(account)
            return replace(
                leave, explanation=f"{why}; {leave.explanation}", data={**leave.data, **data}
            )
        due = next_retry_at(self.now, self._calendar, self.policy)
        return Decision(
            f"{why}: no personal email; the senior RevOps manager has the case with her reason, "
            f"and the manual retries go on: the next on {self._local(due)}",
            state=State.RETRYING,
            next_action_at=due,
            data=data,
            queue=SENIOR_REVOPS,
        )

    # -- promises -------------------------------------------------------------------------

    def _on_promise(self, signal: Signal) -> Decision:
        promised = signal.promised_date
        if promised is None:
            return Decision("a promise without a date changes nothing")
        data = {"promised_date": promised.isoformat(), "promised_by": signal.actor}
        attempts = int(self.case.data.get("manual_attempts", 0))
        state = State(self.case.state)
        if state in (State.AWAITING_SMART_RETRY, State.NEEDS_CARD_UPDATE) or (
            attempts >= self.policy.max_manual_retries
        ):
            return Decision(f"promise to pay by {promised} recorded", data=data)
        due = retry_after_promise(promised, self.now, self._calendar, self.policy)
        return Decision(
            f"the customer promised to pay by {promised}: the next retry moves to "
            f"{self._local(due)}",
            state=State.PROMISED,
            next_action_at=due,
            data=data,
        )

    # -- recovery -------------------------------------------------------------------------

    def _recovered(self, account: Account, signal: Signal) -> Decision:
        """Paid, by whatever means: cancel what is pending, restore dunning, resume recognition
        on the day the charge settled, close."""
        actions: list[ActionSpec] = []
        if self._took_effect(SUPPRESS):
            actions.append(
                self._spec(RESTORE, {"customer": account.stripe_customer}, subject="customer")
            )
        settled = account.settled_on or self._calendar.business_date(self.now)
        resume_note = ""
        # This case's hold, or one another case left for the last invoice in dunning to lift
        # (it recovered while this one was still failing): without the hand-off, the customer's
        # recognition would stay held for good.
        handed_over = account.recognition_held and not self._took_effect(HOLD)
        if self._took_effect(HOLD) or handed_over:
            if account.other_failed_invoices:
                resume_note = (
                    "; recognition stays held while "
                    f"{', '.join(account.other_failed_invoices)} is in dunning"
                )
            else:
                params = {"customer": self._ns_customer(account), "reason": HOLD_REASON}
                cleared = self._calendar.at_local(settled, time(0))
                actions.append(self._spec(RESUME, params, subject="customer", not_before=cleared))
                if self._took_effect(EXCLUDE) or handed_over:
                    actions.append(
                        self._spec(INCLUDE, params, subject="customer", not_before=cleared)
                    )
                resume_note = (
                    f"; recognition resumes and the customer returns to the pipeline reports on "
                    f"{settled.isoformat()}, the settlement date"
                )
        late = self.case.state == State.AWAITING_SMART_RETRY and signal.kind == "payment_failed"
        return Decision(
            f"invoice {account.invoice} is paid: the case is recovered" + resume_note,
            state=State.RECOVERED,
            actions=tuple(actions),
            next_action_at=None,
            cancel_pending=f"invoice {account.invoice} was paid",
            data={
                "recovered_at": self.now.isoformat(),
                "settled_on": settled.isoformat(),
                **(self._counted() if late else {}),
            },
            queue=None,
            contradiction=late,
        )

    def _after_recovery(self, signal: Signal) -> Decision:
        if signal.kind == "payment_failed":
            return self._contradiction(
                "a failure arrived for an invoice already recovered: the payment stands"
            )
        if signal.kind == "outcome" and signal.action_kind == RESUME:
            return Decision(
                "recognition resumed", data={"recognition_resumed_at": signal.at.isoformat()}
            )
        return Decision(f"the case is recovered; {signal.kind} changes nothing")

    def _contradiction(self, why: str) -> Decision:
        return Decision(why, data=self._counted(), contradiction=True)

    def _counted(self) -> dict[str, int]:
        return {"contradictions": int(self.case.data.get("contradictions", 0)) + 1}

    # -- recognition ----------------------------------------------------------------------

    def _hold_if_due(self, account: Account, failures: int) -> tuple[ActionSpec, ...]:
        """Rule 4: from the second failed charge on the subscription (this invoice's or an
        earlier unpaid one's), recognition is held and the customer leaves the pipeline
        reports: the two go together, and come back together (``_recovered``)."""
        counted = max(failures, account.subscription_failures)
        if counted < self.policy.recognition_hold_after_failures or self._live_or_took(HOLD):
            return ()
        params = {"customer": self._ns_customer(account), "reason": HOLD_REASON}
        return (
            self._spec(HOLD, params, subject="customer"),
            self._spec(EXCLUDE, params, subject="customer"),
        )

    def _hold_data(self, holds: tuple[ActionSpec, ...]) -> dict[str, Any]:
        return {"recognition_hold_decided_at": self.now.isoformat()} if holds else {}

    def _bookkeeping(self, signal: Signal, account: Account, what: str) -> Decision:
        if signal.kind == "outcome" and signal.action_kind == HOLD:
            return Decision(
                "recognition is on hold for dunning",
                data={"recognition_held_since": signal.at.isoformat()},
            )
        return Decision(what)

    # -- helpers --------------------------------------------------------------------------

    @property
    def _calendar(self) -> WorkingCalendar:
        calendar: WorkingCalendar = self.facts["calendar"]
        return calendar

    def _high_value(self, account: Account) -> bool:
        tier = self.case.data.get("tier")
        if tier is not None:
            return bool(tier == "high_value")  # decided once, when the case entered dunning
        threshold = self._threshold(account)
        return threshold is not None and account.mrr > threshold

    def _tier(self, account: Account) -> dict[str, Any]:
        if "tier" in self.case.data:
            return {}
        return {
            "tier": "high_value" if self._high_value(account) else "standard",
            "mrr": account.mrr,
            "mrr_currency": account.mrr_currency,
        }

    def _threshold(self, account: Account) -> int | None:
        """The high-value threshold in the MRR's currency: the policy's own in the company's
        currency, else ``high_value_mrr_threshold_in``; None when it names none (no rate is
        guessed: ¥600,000 is not above 500,000 cents)."""
        currency = (account.mrr_currency or self.facts["company_currency"]).lower()
        if currency == str(self.facts["company_currency"]).lower():
            return self.policy.high_value_mrr_threshold
        return self.policy.high_value_mrr_threshold_in.get(currency)

    def _tier_unknown(self, account: Account) -> str | None:
        """Why the customer's tier cannot be told yet (None when it can, or was told)."""
        if "tier" in self.case.data:
            return None
        if account.mrr_unknown:
            return account.mrr_unknown
        if self._threshold(account) is None:
            return (
                f"its MRR is in {str(account.mrr_currency).upper()} and the policy names no "
                "high-value threshold in it (high_value_mrr_threshold_in)"
            )
        return None

    def _ns_customer(self, account: Account) -> str:
        return account.netsuite_customer or account.stripe_customer

    def _spec(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        attempt: int | str | None = None,
        subject: str = "invoice",
        not_before: datetime | None = None,
        requires_role: str | None = None,
        approval_reason: str | None = None,
    ) -> ActionSpec:
        """Customer-level actions are keyed by the customer and attempted once per invoice, so
        two invoices in dunning never share a key."""
        if subject == "customer":
            account: Account = self.facts["account"]
            return ActionSpec(
                kind,
                account.stripe_customer,
                params,
                attempt=attempt if attempt is not None else self.case.subject,
                not_before=not_before,
            )
        return ActionSpec(
            kind,
            self.case.subject,
            params,
            attempt=attempt if attempt is not None else 1,
            not_before=not_before,
            requires_role=requires_role,
            approval_reason=approval_reason,
        )

    def _suppress(self, account: Account, attempt: str) -> ActionSpec:
        return ActionSpec(
            SUPPRESS, account.stripe_customer, {"customer": account.stripe_customer}, attempt
        )

    def _live(self, kind: str) -> bool:
        return any(a.kind == kind and a.status in LIVE_STATUSES for a in self.case.actions)

    def _took_effect(self, kind: str) -> bool:
        return any(a.kind == kind and a.status in TOOK_EFFECT for a in self.case.actions)

    def _live_or_took(self, kind: str) -> bool:
        return self._live(kind) or self._took_effect(kind)

    def _to_person(
        self,
        queue: str,
        why: str,
        *,
        cancel: bool = False,
        data: Mapping[str, Any] | None = None,
        flags: Mapping[str, Any] | None = None,
        keep_state: bool = False,
    ) -> Decision:
        return Decision(
            why,
            state=None if keep_state else State.ESCALATED,
            next_action_at=None if not keep_state else self.case.next_action_at,
            cancel_pending=why if cancel else None,
            data={**(data or {}), "escalation": why},
            flags={**self.case.flags, **flags} if flags else self.case.flags,
            queue=queue,
        )

    def _next_morning(self) -> datetime:
        return retry_after_promise(
            self._calendar.business_date(self.now), self.now, self._calendar, self.policy
        )

    def _local(self, when: datetime) -> str:
        return when.astimezone(self._calendar.tz).strftime("%a %d %b %Y %H:%M %Z")


def _card_saved(event: EventView) -> CaseRef | None:
    """A new default card on the customer (``customer.updated`` whose previous attributes hold
    the old ``invoice_settings.default_payment_method``): the customer's hard-declined invoices
    check for it at once rather than at the next morning's look."""
    data = event.payload.get("data") or {}
    previous = (data.get("previous_attributes") or {}).get("invoice_settings") or {}
    customer = (data.get("object") or {}).get("id")
    if "default_payment_method" not in previous or not isinstance(customer, str):
        return None
    return CaseRef(customer, customer, opens=False, wakes=frozenset({State.NEEDS_CARD_UPDATE}))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
