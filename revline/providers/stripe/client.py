"""The Stripe adapter: the official SDK underneath, Revline's records and errors on top.

Every write carries an idempotency key. Stripe forgets keys after 24 hours, so the writes a
retry could repeat after that long look first for the effect they would make: a refund carries
its key in its metadata and is searched for on the charge before one is created; a manual retry
of an invoice that is already paid pays nothing, and one that was already declined under the same
key is found in the events Stripe keeps for 30 days.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import stripe
from stripe.params import (
    BalanceTransactionListParams,
    BalanceTransactionListParamsCreated,
    ChargeListParams,
    CreditNoteListParams,
    CustomerListParams,
    EventListParams,
    InvoiceListParams,
    InvoiceUpdateParams,
    PayoutListParams,
    PayoutListParamsArrivalDate,
    PayoutListParamsCreated,
)
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams

from revline.clock import Clock, SystemClock
from revline.config import Settings
from revline.errors import ConfigError
from revline.providers.stripe.errors import StripeRequestError, error_body, translate
from revline.providers.stripe.records import (
    PAYMENTS_BALANCE,
    REFUND_REASONS,
    BalanceTransaction,
    Charge,
    CheckoutSession,
    CreditNote,
    Customer,
    Dispute,
    DunningChange,
    DunningState,
    Event,
    Invoice,
    InvoicePayment,
    PaymentIntent,
    Payout,
    PortalSession,
    Refund,
)

PAGE = 100  # Stripe's largest page
# How many times ``balance_at`` reads the balance while movements keep arriving.
BALANCE_READS = 3
# Metadata Revline writes, so that it can tell later what it did.
IDEMPOTENCY_KEY_METADATA = "revline_idempotency_key"
DUNNING_METADATA = "revline_dunning"
DUNNING_AT_METADATA = "revline_dunning_at"
DUNNING_PAUSED_METADATA = "revline_dunning_paused"  # on an invoice Revline took auto_advance off
DUNNING_RESTORED_METADATA = "revline_dunning_restored"  # the restore that turned it back on
MANUAL_CONTROL_METADATA = "revline_manual_control"
# How far back a repeated manual retry looks for its own earlier decline (Stripe keeps 30 days).
EARLIER_DECLINE_PAGES = 10


def _json(obj: stripe.StripeObject) -> dict[str, Any]:
    return obj.to_dict(for_json=True)


class StripeAdapter:
    """Stripe through ``stripe.StripeClient``; returns records, raises ``StripeRequestError``.

    ``max_network_retries`` lets the SDK retry connection errors, 409 and 5xx itself, with the
    same idempotency key; the executor's own retries come on top, later.
    """

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        max_network_retries: int = 2,
        clock: Clock | None = None,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=http_client,
        )
        self.clock: Clock = clock or SystemClock()

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> StripeAdapter:
        """The adapter ``REVLINE_STRIPE_API_KEY`` and ``REVLINE_STRIPE_API_BASE`` describe."""
        if settings.stripe_api_key is None:
            raise ConfigError("stripe_api_key is not configured")
        return cls(
            settings.stripe_api_key.get_secret_value(),
            api_base=settings.stripe_api_base,
            clock=clock,
        )

    @contextmanager
    def _requests(self) -> Iterator[None]:
        """Translate the SDK's errors; wraps whole iterations, since auto-paging makes requests."""
        try:
            yield
        except stripe.StripeError as exc:
            raise translate(exc) from exc

    @staticmethod
    def _all(items: Iterable[stripe.StripeObject]) -> list[dict[str, Any]]:
        return [_json(item) for item in items]

    # -- customers ------------------------------------------------------------------------

    def search_customers(self, email: str) -> list[Customer]:
        """Customers whose email is ``email`` by Stripe's search (which lags writes by ~1 min)."""
        escaped = email.replace("\\", "\\\\").replace("'", "\\'")
        with self._requests():
            found = self._client.v1.customers.search(
                params={"query": f"email:'{escaped}'", "limit": PAGE}
            )
            return [Customer.from_stripe(c) for c in self._all(found.auto_paging_iter())]

    def list_customers(self, email: str | None = None) -> list[Customer]:
        """All customers, or those whose email is exactly ``email`` (case-sensitive)."""
        params: CustomerListParams = {"limit": PAGE}
        if email is not None:
            params["email"] = email
        with self._requests():
            page = self._client.v1.customers.list(params=params)
            return [Customer.from_stripe(c) for c in self._all(page.auto_paging_iter())]

    def get_customer(self, customer_id: str) -> Customer:
        """One customer. Stripe answers a deleted one with a stub (``deleted: true``, nothing
        else): that is refused here as the customer missing (``resource_missing``)."""
        with self._requests():
            data = _json(self._client.v1.customers.retrieve(customer_id))
        if data.get("deleted"):
            raise StripeRequestError(
                f"Stripe customer {customer_id} was deleted",
                retryable=False,
                status=404,
                provider_code="resource_missing",
            )
        return Customer.from_stripe(data)

    def update_customer_metadata(
        self, customer_id: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> Customer:
        """Set metadata keys (an empty value removes a key); other keys are left alone."""
        with self._requests():
            updated = self._client.v1.customers.update(
                customer_id,
                params={"metadata": dict(metadata)},
                options={"idempotency_key": idempotency_key},
            )
            return Customer.from_stripe(_json(updated))

    # -- invoices -------------------------------------------------------------------------

    def list_invoices(
        self, customer: str | None = None, status: str | None = None
    ) -> list[Invoice]:
        """Invoices, newest first, optionally of one customer and in one status."""
        params: InvoiceListParams = {"limit": PAGE}
        if customer is not None:
            params["customer"] = customer
        if status is not None:
            params["status"] = status
        with self._requests():
            page = self._client.v1.invoices.list(params=params)
            return [Invoice.from_stripe(i) for i in self._all(page.auto_paging_iter())]

    def get_invoice(self, invoice_id: str, *, with_last_failure: bool = False) -> Invoice:
        """An invoice; ``with_last_failure`` also reads its payment's last error code (two more
        requests), which current invoices no longer carry themselves."""
        with self._requests():
            invoice = Invoice.from_stripe(_json(self._client.v1.invoices.retrieve(invoice_id)))
            if not with_last_failure:
                return invoice
            payments = self._client.v1.invoice_payments.list(
                params={"invoice": invoice_id, "limit": 1}
            )
            for payment in self._all(payments.data):
                intent_id = (payment.get("payment") or {}).get("payment_intent")
                if isinstance(intent_id, str):
                    intent = self.get_payment_intent(intent_id)
                    return _with_failure(invoice, intent)
            return invoice

    def set_auto_advance(
        self,
        invoice_id: str,
        auto_advance: bool,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Invoice:
        """Turn Stripe's automatic collection of one invoice (retries, reminders) off or on."""
        params: InvoiceUpdateParams = {"auto_advance": auto_advance}
        if metadata:
            params["metadata"] = dict(metadata)
        with self._requests():
            updated = self._client.v1.invoices.update(
                invoice_id, params=params, options={"idempotency_key": idempotency_key}
            )
            return Invoice.from_stripe(_json(updated))

    def send_invoice(self, invoice_id: str, idempotency_key: str) -> Invoice:
        """Have Stripe email the customer the invoice and its payment page
        (``POST /v1/invoices/{id}/send``): Stripe's own email, sent even with ``auto_advance``
        off."""
        with self._requests():
            sent = self._client.v1.invoices.send_invoice(
                invoice_id, options={"idempotency_key": idempotency_key}
            )
            return Invoice.from_stripe(_json(sent))

    def pay_invoice(
        self, invoice_id: str, idempotency_key: str, attempt: int = 1
    ) -> InvoicePayment:
        """A manual retry (``POST /v1/invoices/{id}/pay``).

        A decline is an outcome, not an error: Stripe's 402 becomes ``outcome="declined"`` with
        the card's code and decline code. An invoice already paid, before the call or by the time
        Stripe refuses to pay it again, is reported paid without a charge. A repeated attempt
        (``attempt`` > 1) first looks for its own earlier decline, since Stripe may have pruned
        the idempotency key that would have replayed it.
        """
        invoice = self.get_invoice(invoice_id)
        if invoice.status == "paid":
            return InvoicePayment(invoice, "paid", already_paid=True)
        if attempt > 1:
            earlier = self._earlier_decline(invoice, idempotency_key)
            if earlier is not None:
                return earlier
        try:
            paid = self._client.v1.invoices.pay(
                invoice_id, options={"idempotency_key": idempotency_key}
            )
        except stripe.CardError as exc:
            body = error_body(exc)
            return InvoicePayment(
                self.get_invoice(invoice_id),
                "declined",
                code=body.get("code") or exc.code,
                decline_code=body.get("decline_code"),
                message=body.get("message"),
                charge=body.get("charge"),
            )
        except stripe.StripeError as exc:
            error = translate(exc)
            if error.status == 400:
                # Paid in the meantime (a Smart Retry, a bank transfer): the goal is reached.
                now = self.get_invoice(invoice_id)
                if now.status == "paid":
                    return InvoicePayment(now, "paid", already_paid=True)
            raise error from exc
        record = Invoice.from_stripe(_json(paid))
        return InvoicePayment(record, "paid" if record.status == "paid" else "pending")

    def _earlier_decline(self, invoice: Invoice, idempotency_key: str) -> InvoicePayment | None:
        """The ``charge.failed`` event a request with this key caused, if Stripe still has it."""
        params: EventListParams = {"types": ["charge.failed"], "limit": PAGE}
        with self._requests():
            page = self._client.v1.events.list(params=params)
            for _ in range(EARLIER_DECLINE_PAGES):
                for event in self._all(page.data):
                    if (event.get("request") or {}).get("idempotency_key") != idempotency_key:
                        continue
                    charge = Charge.from_stripe(event["data"]["object"])
                    return InvoicePayment(
                        invoice,
                        "declined",
                        code=charge.failure_code,
                        decline_code=charge.decline_code,
                        message=charge.failure_message,
                        charge=charge.id,
                    )
                if not page.has_more:
                    break
                page = page.next_page()
        return None

    def invoice_for_payment_intent(self, payment_intent_id: str) -> str | None:
        """The invoice a payment paid, if any (from the invoice's payments)."""
        with self._requests():
            payments = self._client.v1.invoice_payments.list(
                params={
                    "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
                    "limit": 1,
                }
            )
            for payment in self._all(payments.data):
                invoice = payment.get("invoice")
                return invoice if isinstance(invoice, str) else None
        return None

    # -- charges and payment intents ------------------------------------------------------

    def get_charge(self, charge_id: str) -> Charge:
        """A charge, with the invoice it paid when there is one."""
        with self._requests():
            charge = Charge.from_stripe(_json(self._client.v1.charges.retrieve(charge_id)))
        if charge.payment_intent is None:
            return charge
        invoice = self.invoice_for_payment_intent(charge.payment_intent)
        return replace(charge, invoice=invoice)

    def invoice_settlement(self, invoice_id: str) -> datetime | None:
        """When the charge that paid an invoice settles into the Stripe balance: its balance
        transaction's ``available_on``. None when no charge paid it (paid out of band)."""
        with self._requests():
            payments = self._client.v1.invoice_payments.list(
                params={"invoice": invoice_id, "limit": PAGE}
            )
            for payment in self._all(payments.data):
                intent_id = (payment.get("payment") or {}).get("payment_intent")
                if payment.get("status") != "paid" or not isinstance(intent_id, str):
                    continue
                charge_id = self.get_payment_intent(intent_id).latest_charge
                if charge_id is None:
                    continue
                charge = Charge.from_stripe(_json(self._client.v1.charges.retrieve(charge_id)))
                if charge.balance_transaction is None:
                    continue
                txn = self._client.v1.balance_transactions.retrieve(charge.balance_transaction)
                return BalanceTransaction.from_stripe(_json(txn)).available_on
        return None

    def list_charges(self, customer: str) -> list[Charge]:
        """A customer's charges, newest first (``invoice`` is not looked up here)."""
        params: ChargeListParams = {"customer": customer, "limit": PAGE}
        with self._requests():
            page = self._client.v1.charges.list(params=params)
            return [Charge.from_stripe(c) for c in self._all(page.auto_paging_iter())]

    def get_payment_intent(self, payment_intent_id: str) -> PaymentIntent:
        """One payment intent, with its last payment error."""
        with self._requests():
            intent = self._client.v1.payment_intents.retrieve(payment_intent_id)
            return PaymentIntent.from_stripe(_json(intent))

    # -- refunds and credit notes ---------------------------------------------------------

    def list_refunds(self, charge: str) -> list[Refund]:
        """A charge's refunds, newest first."""
        with self._requests():
            page = self._client.v1.refunds.list(params={"charge": charge, "limit": PAGE})
            return [Refund.from_stripe(r) for r in self._all(page.auto_paging_iter())]

    def list_disputes(self, charge: str) -> list[Dispute]:
        """A charge's disputes, newest first."""
        with self._requests():
            page = self._client.v1.disputes.list(params={"charge": charge, "limit": PAGE})
            return [Dispute.from_stripe(d) for d in self._all(page.auto_paging_iter())]

    def create_refund(
        self,
        charge: str,
        amount: int,
        reason: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Refund:
        """Refund ``amount`` minor units of a charge, once per key, even past Stripe's 24 h.

        The key goes into the refund's metadata, beside ``metadata``; a refund on the charge
        that already carries it is the effect of an earlier attempt and is returned instead of
        refunding twice.
        """
        if reason not in REFUND_REASONS:
            raise StripeRequestError(
                f"refund reason must be one of {', '.join(REFUND_REASONS)}, not {reason!r}",
                retryable=False,
                status=None,
            )
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise StripeRequestError(
                f"refund amount must be a positive integer of minor units, not {amount!r}",
                retryable=False,
                status=None,
            )
        for refund in self.list_refunds(charge):
            if refund.metadata.get(IDEMPOTENCY_KEY_METADATA) == idempotency_key:
                return refund
        with self._requests():
            created = self._client.v1.refunds.create(
                params={
                    "charge": charge,
                    "amount": amount,
                    "reason": reason,
                    "metadata": {**(metadata or {}), IDEMPOTENCY_KEY_METADATA: idempotency_key},
                },
                options={"idempotency_key": idempotency_key},
            )
            return Refund.from_stripe(_json(created))

    def list_credit_notes(
        self, invoice: str | None = None, customer: str | None = None
    ) -> list[CreditNote]:
        """Credit notes, newest first, of one invoice and/or one customer."""
        params: CreditNoteListParams = {"limit": PAGE}
        if invoice is not None:
            params["invoice"] = invoice
        if customer is not None:
            params["customer"] = customer
        with self._requests():
            page = self._client.v1.credit_notes.list(params=params)
            return [CreditNote.from_stripe(n) for n in self._all(page.auto_paging_iter())]

    # -- payouts and the balance ----------------------------------------------------------

    def list_payouts(
        self,
        *,
        arrival_from: datetime | None = None,
        arrival_until: datetime | None = None,
        created_from: datetime | None = None,
        created_until: datetime | None = None,
        status: str | None = None,
    ) -> list[Payout]:
        """Payouts, newest first; bounds are inclusive."""
        params: PayoutListParams = {"limit": PAGE}
        arrival: PayoutListParamsArrivalDate = {}
        created: PayoutListParamsCreated = {}
        if arrival_from is not None:
            arrival["gte"] = int(arrival_from.timestamp())
        if arrival_until is not None:
            arrival["lte"] = int(arrival_until.timestamp())
        if created_from is not None:
            created["gte"] = int(created_from.timestamp())
        if created_until is not None:
            created["lte"] = int(created_until.timestamp())
        if arrival:
            params["arrival_date"] = arrival
        if created:
            params["created"] = created
        if status is not None:
            params["status"] = status
        with self._requests():
            page = self._client.v1.payouts.list(params=params)
            return [Payout.from_stripe(p) for p in self._all(page.auto_paging_iter())]

    def get_payout(self, payout_id: str) -> Payout:
        """One payout."""
        with self._requests():
            return Payout.from_stripe(_json(self._client.v1.payouts.retrieve(payout_id)))

    def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        """Every balance transaction an automatic payout settled, and the payout's own."""
        params: BalanceTransactionListParams = {"payout": payout_id, "limit": PAGE}
        with self._requests():
            page = self._client.v1.balance_transactions.list(params=params)
            return [BalanceTransaction.from_stripe(t) for t in self._all(page.auto_paging_iter())]

    def list_balance_transactions(
        self, *, created_from: datetime, created_until: datetime | None = None
    ) -> list[BalanceTransaction]:
        """Every balance transaction created in a window (bounds inclusive; no end: up to
        now), newest first: what moved the balance in a period, paid out or not."""
        created: BalanceTransactionListParamsCreated = {"gte": int(created_from.timestamp())}
        if created_until is not None:
            created["lte"] = int(created_until.timestamp())
        params: BalanceTransactionListParams = {"created": created, "limit": PAGE}
        with self._requests():
            page = self._client.v1.balance_transactions.list(params=params)
            return [BalanceTransaction.from_stripe(t) for t in self._all(page.auto_paging_iter())]

    def balance_at(self, instant: datetime, currency: str) -> int:
        """The payments balance in ``currency`` (available and pending: what Stripe pays out)
        as it stood at ``instant``: Stripe's balance now, less the net of every movement of it
        created since. The movements are
        listed before and after the balance is read, and all three read again while the two
        lists differ, so a movement made meanwhile is never counted on one side only."""
        for _ in range(BALANCE_READS):
            before = {t.id for t in self.list_balance_transactions(created_from=instant)}
            with self._requests():
                balance = _json(self._client.v1.balance.retrieve())
            since = self.list_balance_transactions(created_from=instant)
            if {t.id for t in since} == before:
                now = sum(
                    int(funds["amount"])
                    for part in ("available", "pending")
                    for funds in balance.get(part) or ()
                    if funds.get("currency") == currency
                )
                return now - sum(
                    t.net
                    for t in since
                    if t.currency == currency and t.balance_type == PAYMENTS_BALANCE
                )
        raise StripeRequestError(
            f"Stripe's balance kept moving: {BALANCE_READS} reads of it and of the movements "
            f"since {instant.isoformat()} did not agree; try again",
            retryable=True,
            status=None,
        )

    # -- links ----------------------------------------------------------------------------

    def create_portal_session(
        self, customer: str, idempotency_key: str, return_url: str | None = None
    ) -> PortalSession:
        """A short-lived billing-portal link that opens straight on updating the card."""
        params: PortalSessionCreateParams = {
            "customer": customer,
            "flow_data": {"type": "payment_method_update"},
        }
        if return_url is not None:
            params["return_url"] = return_url
        with self._requests():
            session = self._client.v1.billing_portal.sessions.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
            return PortalSession.from_stripe(_json(session))

    def get_checkout_session(self, session_id: str) -> CheckoutSession:
        """One Checkout session."""
        with self._requests():
            session = self._client.v1.checkout.sessions.retrieve(session_id)
            return CheckoutSession.from_stripe(_json(session))

    def checkout_session_for(self, payment_intent_id: str) -> CheckoutSession | None:
        """The Checkout session a payment came through; None for a payment made elsewhere (the
        billing portal, an invoice, the API)."""
        with self._requests():
            page = self._client.v1.checkout.sessions.list(
                params={"payment_intent": payment_intent_id, "limit": 1}
            )
            sessions = self._all(page.data)
        return CheckoutSession.from_stripe(sessions[0]) if sessions else None

    # -- events ---------------------------------------------------------------------------

    def events_after(self, event_id: str, types: list[str] | None = None) -> list[Event]:
        """Every event newer than ``event_id``, oldest first (``ending_before`` paging)."""
        params: EventListParams = {"ending_before": event_id, "limit": PAGE}
        if types:
            params["types"] = types
        with self._requests():
            page = self._client.v1.events.list(params=params)
            # With ending_before the SDK pages towards newer events, oldest first.
            return [Event.from_stripe(e) for e in self._all(page.auto_paging_iter())]

    def events_since(self, since: datetime, types: list[str] | None = None) -> list[Event]:
        """Every event created at or after ``since``, oldest first."""
        params: EventListParams = {"created": {"gte": int(since.timestamp())}, "limit": PAGE}
        if types:
            params["types"] = types
        with self._requests():
            page = self._client.v1.events.list(params=params)
            newest_first = self._all(page.auto_paging_iter())
        return [Event.from_stripe(e) for e in reversed(newest_first)]

    # -- dunning --------------------------------------------------------------------------

    def suppress_dunning(
        self, customer: str, idempotency_key: str, attempt: int = 1
    ) -> DunningChange:
        """Stop Stripe's automated dunning for a customer, as far as Stripe allows.

        Stripe has no per-customer switch for its dunning emails. Revline turns off
        ``auto_advance`` on the customer's open invoices (no automatic retries, no reminder
        emails for them), marks each such invoice so that a restore turns back on only what
        Revline turned off, and records ``revline_dunning=suppressed`` on the customer.
        ``invoices`` lists every open invoice under suppression, including those an earlier
        attempt already turned off.
        """
        suppressed: list[str] = []
        for invoice in self.list_invoices(customer=customer, status="open"):
            ours = invoice.metadata.get(DUNNING_PAUSED_METADATA) == "true"
            if invoice.auto_advance:
                self.set_auto_advance(
                    invoice.id,
                    False,
                    f"{idempotency_key}:{invoice.id}",
                    metadata={DUNNING_PAUSED_METADATA: "true", DUNNING_RESTORED_METADATA: ""},
                )
                suppressed.append(invoice.id)
            elif ours:
                suppressed.append(invoice.id)
            # Off but not marked: somebody else's decision (manual control), not ours to undo.
        return self._mark_dunning(customer, "suppressed", suppressed, idempotency_key, attempt)

    def restore_dunning(
        self, customer: str, idempotency_key: str, attempt: int = 1
    ) -> DunningChange:
        """Undo ``suppress_dunning``: ``auto_advance`` back on for the open invoices Revline had
        turned off for dunning, and ``revline_dunning=restored`` on the customer. Each restored
        invoice is marked with this key, so a retry still counts what an earlier attempt did."""
        restored: list[str] = []
        for invoice in self.list_invoices(customer=customer, status="open"):
            if invoice.metadata.get(DUNNING_RESTORED_METADATA) == idempotency_key:
                restored.append(invoice.id)
            elif (
                not invoice.auto_advance and invoice.metadata.get(DUNNING_PAUSED_METADATA) == "true"
            ):
                self.set_auto_advance(
                    invoice.id,
                    True,
                    f"{idempotency_key}:{invoice.id}",
                    metadata={
                        DUNNING_PAUSED_METADATA: "",
                        DUNNING_RESTORED_METADATA: idempotency_key,
                    },
                )
                restored.append(invoice.id)
        return self._mark_dunning(customer, "restored", restored, idempotency_key, attempt)

    def _mark_dunning(
        self,
        customer: str,
        state: DunningState,
        invoices: list[str],
        idempotency_key: str,
        attempt: int,
    ) -> DunningChange:
        at = self.clock.now()
        # The timestamp differs between attempts, so each attempt has its own key: a stored
        # first attempt must not turn a retry into an idempotency_error. Setting the same
        # metadata twice is harmless.
        self.update_customer_metadata(
            customer,
            {DUNNING_METADATA: state, DUNNING_AT_METADATA: at.isoformat()},
            f"{idempotency_key}:customer:{attempt}",
        )
        return DunningChange(customer, state, tuple(invoices), at)


def _with_failure(invoice: Invoice, intent: PaymentIntent) -> Invoice:
    return replace(
        invoice,
        last_failure_code=intent.last_error_code,
        last_decline_code=intent.last_decline_code,
    )
