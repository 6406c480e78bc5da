"""The simulated Stripe account: its objects, its events, and the happenings the sandbox enacts.

Everything is in memory, behind one lock, on an injected clock, and reproducible from a seed.
The sandbox drives it through the methods below (a customer's card starts failing, an invoice's
charge is attempted, Stripe's immediate automatic retry runs, a payout is made); Revline reaches
it only over HTTP, through ``app``. Every change Stripe would announce appends an event to the
events list and hands it to ``on_event`` (the simulator signs and delivers it as a webhook).

What the methods return are copies: changing them changes nothing in the account.
"""

from __future__ import annotations

import copy
import string
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from random import Random
from typing import Any, Literal

import stripe

from revline.clock import Clock
from revline.providers.stripe.sim import objects
from revline.providers.stripe.sim.errors import StripeApiError, invalid, missing

Obj = dict[str, Any]
EventListener = Callable[[Obj], None]

KINDS = (
    "customer",
    "invoice",
    "invoice_payment",
    "payment_intent",
    "charge",
    "refund",
    "dispute",
    "credit_note",
    "balance_transaction",
    "payout",
    "billing_portal.session",
    "checkout.session",
    "event",
)
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CREDIT_NOTE_REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
# Declines Smart Retries never retry: the card will not work again (PROVIDERS.md).
HARD_DECLINES = frozenset(
    {
        "expired_card",
        "fraudulent",
        "incorrect_number",
        "invalid_account",
        "lost_card",
        "pickup_card",
        "restricted_card",
        "stolen_card",
    }
)
DISPUTE_FEE = 1500  # Stripe's US dispute fee, in cents
EVENT_RETENTION = timedelta(days=30)
_ALPHABET = string.ascii_letters + string.digits


class SimulationError(Exception):
    """A happening the simulated account cannot enact (an unknown customer, a paid invoice)."""


@dataclass(frozen=True)
class CardOutcome:
    """How charges on a customer's card end: succeed, or fail with Stripe's codes."""

    failure_code: str | None = None
    decline_code: str | None = None

    @classmethod
    def fails(cls, code: str = "card_declined", decline_code: str | None = None) -> CardOutcome:
        """A failing card. Without a decline code, Stripe's: ``generic_decline`` for
        ``card_declined``, else the failure code itself (``insufficient_funds``, …)."""
        if decline_code is None:
            decline_code = "generic_decline" if code == "card_declined" else code
        return cls(code, decline_code)

    @property
    def succeeds(self) -> bool:
        return self.failure_code is None

    @property
    def hard(self) -> bool:
        return bool({self.failure_code, self.decline_code} & HARD_DECLINES)


CARD_SUCCEEDS = CardOutcome()


@dataclass(frozen=True)
class FeeSchedule:
    """Stripe's processing fee per charge: ``percent`` of the amount (half-up) plus ``fixed``."""

    percent: Decimal = Decimal("2.9")
    fixed: int = 30

    def fee(self, amount: int) -> int:
        share = (Decimal(amount) * self.percent / 100).quantize(Decimal(1), ROUND_HALF_UP)
        return int(share) + self.fixed


@dataclass(frozen=True)
class PaymentAttempt:
    """One charge attempt on an invoice and what it left behind."""

    succeeded: bool
    invoice: Obj
    charge: Obj
    payment_intent: Obj

    @property
    def failure_code(self) -> str | None:
        code = self.charge["failure_code"]
        return str(code) if code else None

    @property
    def decline_code(self) -> str | None:
        reason = self.charge["outcome"]["reason"]
        return str(reason) if reason else None


@dataclass(frozen=True)
class OrphanPayment:
    """A payment tied to no invoice; ``checkout_session`` is None when it came through the
    billing portal."""

    charge: Obj
    payment_intent: Obj
    checkout_session: Obj | None


@dataclass(frozen=True)
class DunningEmail:
    """An email Stripe sent a customer about an unpaid invoice: its automated "your payment
    failed" email (``payment_failed``), or the invoice with its payment page, sent on request
    (``invoice_sent``, ``POST /v1/invoices/{id}/send``)."""

    at: datetime
    customer: str
    email: str | None
    invoice: str
    amount_due: int
    currency: str
    kind: str = "payment_failed"


class StripeState:
    """One simulated Stripe account in test mode.

    ``smart_retry_after`` spaces Stripe's automatic retries (shown as ``next_payment_attempt``;
    the sandbox runs each with ``smart_retry``), up to ``smart_retry_limit`` automatic attempts.
    ``search_lag`` is how long a new customer takes to appear in search. ``payout_delay`` is the
    default time from a payout's creation to its arrival.
    """

    def __init__(
        self,
        clock: Clock,
        seed: int = 0,
        *,
        fee_schedule: FeeSchedule | None = None,
        smart_retry_after: timedelta = timedelta(hours=1),
        smart_retry_limit: int = 8,
        search_lag: timedelta = timedelta(seconds=60),
        payout_delay: timedelta = timedelta(days=1),
        account_name: str = "Revline Sandbox",
        on_event: EventListener | None = None,
    ) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.fee_schedule = fee_schedule or FeeSchedule()
        self.smart_retry_after = smart_retry_after
        self.smart_retry_limit = smart_retry_limit
        self.search_lag = search_lag
        self.payout_delay = payout_delay
        self.account_name = account_name
        self.on_event = on_event
        self.dunning_emails: list[DunningEmail] = []
        # Refunds that settle days later, as a bank debit's do: made ``pending`` until
        # ``settle_refund``. Card refunds (the default) succeed when they are made.
        self.refunds_settle_later = False
        self._rng = Random(seed)
        self._objects: dict[str, dict[str, Obj]] = {kind: {} for kind in KINDS}
        self._deleted_customers: set[str] = set()
        self._places: dict[str, int] = {}  # id → order of creation, for cursors
        self._cards: dict[str, CardOutcome] = {}
        self._searchable_at: dict[str, datetime] = {}
        self._numbers: dict[str, str] = {}  # invoice id → the number it gets when finalized
        self._invoice_payment_of: dict[str, str] = {}  # invoice id → its invoice_payment id
        self._automatic_attempts: dict[str, int] = {}
        self._last_decline: dict[str, CardOutcome] = {}
        self._payout_of: dict[str, str] = {}  # balance transaction id → payout id
        # invoice id → a payment by another route that lands as the next pay request arrives
        self._before_next_pay: dict[str, Callable[[], object]] = {}
        self._request: tuple[str | None, str | None] = (None, None)
        self._portal_configuration = self._new_id("bpc_")
        self._bank_account = self._new_id("ba_")

    # -- plumbing -------------------------------------------------------------------------

    def _new_id(self, prefix: str, length: int = 24) -> str:
        while True:
            candidate = prefix + "".join(self._rng.choices(_ALPHABET, k=length))
            if not any(candidate in store for store in self._objects.values()):
                return candidate

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def _put(self, kind: str, obj: Obj) -> Obj:
        if obj["id"] not in self._places:
            self._places[obj["id"]] = len(self._places)
        self._objects[kind][obj["id"]] = obj
        return obj

    def position(self, kind: str, object_id: str) -> int | None:
        """Where an object of ``kind`` stands in the order of creation (cursors use it); None
        when there is no such object, or it is an event past Stripe's 30 days."""
        with self.lock:
            obj = self._objects[kind].get(object_id)
            if obj is None or (kind == "event" and self._expired(obj)):
                return None
            return self._places[object_id]

    def _expired(self, event: Obj) -> bool:
        return bool(event["created"] < self._now() - int(EVENT_RETENTION.total_seconds()))

    def _email_about(self, invoice: Obj, customer: Obj, kind: str) -> None:
        """Stripe emails the customer about an unpaid invoice (recorded, not delivered)."""
        self.dunning_emails.append(
            DunningEmail(
                at=self.clock.now(),
                customer=customer["id"],
                email=customer["email"],
                invoice=invoice["id"],
                amount_due=invoice["amount_remaining"],
                currency=invoice["currency"],
                kind=kind,
            )
        )

    def _live(self, kind: str, object_id: str, param: str = "id") -> Obj:
        found = self._objects[kind].get(object_id)
        if found is None:
            raise missing(kind, object_id, param)
        return found

    def get(self, kind: str, object_id: str) -> Obj:
        """A copy of one object (``kind`` as Stripe names it: ``invoice``, ``checkout.session``);
        404 ``resource_missing`` when there is none."""
        with self.lock:
            if kind == "event":
                self._visible_event(object_id)
            found = copy.deepcopy(self._live(kind, object_id))
            if kind == "customer" and object_id in self._deleted_customers:
                # What Stripe answers for a deleted customer: a stub, nothing else.
                return {"id": object_id, "object": "customer", "deleted": True}
            return found

    def delete_customer(self, customer_id: str) -> Obj:
        """Delete a customer (``customer.deleted``): Stripe then answers it as a stub. Its
        charges and invoices stay, naming it."""
        with self.lock:
            customer = self._live("customer", customer_id)
            self._deleted_customers.add(customer_id)
            self._emit("customer.deleted", customer)
            return {"id": customer_id, "object": "customer", "deleted": True}

    def newest_first(self, kind: str) -> list[Obj]:
        """Every object of ``kind``, newest first (live: callers copy what they send out)."""
        with self.lock:
            items = list(reversed(self._objects[kind].values()))
            if kind == "event":
                items = [e for e in items if not self._expired(e)]
            return items

    def kind_of(self, object_id: str) -> str | None:
        """Which kind of object an id names, for expansion."""
        for kind, store in self._objects.items():
            if object_id in store:
                return kind
        return None

    def _visible_event(self, event_id: str) -> None:
        if self._expired(self._live("event", event_id)):
            raise missing("event", event_id)

    @contextmanager
    def request_scope(self, request_id: str, idempotency_key: str | None) -> Iterator[None]:
        """Events raised while an API request runs name it (``request.id``, its key)."""
        with self.lock:
            self._request = (request_id, idempotency_key)
            try:
                yield
            finally:
                self._request = (None, None)

    def _emit(self, event_type: str, obj: Obj, previous: Obj | None = None) -> Obj:
        request_id, key = self._request
        event = objects.event(
            event_id=self._new_id("evt_"),
            created=self._now(),
            event_type=event_type,
            data_object=copy.deepcopy(obj),
            previous_attributes=copy.deepcopy(previous) if previous is not None else None,
            api_version=stripe.api_version,
            request_id=request_id,
            idempotency_key=key,
            pending_webhooks=1 if self.on_event else 0,
        )
        self._put("event", event)
        if self.on_event is not None:
            self.on_event(copy.deepcopy(event))
        return event

    # -- customers ------------------------------------------------------------------------

    def create_customer(
        self, email: str | None, name: str | None = None, metadata: dict[str, str] | None = None
    ) -> Obj:
        """A customer with a working card (``customer.created``). Stripe's search finds it only
        after ``search_lag``; the list endpoint at once."""
        with self.lock:
            customer = objects.customer(
                customer_id=self._new_id("cus_", 14),
                created=self._now(),
                email=email,
                name=name,
                metadata=metadata or {},
                invoice_prefix="".join(self._rng.choices(string.hexdigits.upper()[:16], k=8)),
                payment_method=self._new_id("pm_"),
            )
            self._put("customer", customer)
            self._cards[customer["id"]] = CARD_SUCCEEDS
            self._searchable_at[customer["id"]] = self.clock.now() + self.search_lag
            self._emit("customer.created", customer)
            return copy.deepcopy(customer)

    def searchable(self, customer_id: str) -> bool:
        """Whether Stripe's search index has caught up with this customer yet."""
        with self.lock:
            return self.clock.now() >= self._searchable_at[customer_id]

    def set_card(self, customer_id: str, outcome: CardOutcome) -> None:
        """From now on every charge on the customer's card ends as ``outcome`` (the bank's
        behaviour: no event)."""
        with self.lock:
            self._live("customer", customer_id)
            self._cards[customer_id] = outcome

    def card_updated(self, customer_id: str) -> Obj:
        """The customer saved a new card: it becomes the default payment method and every later
        charge succeeds (``customer.updated``)."""
        with self.lock:
            customer = self._live("customer", customer_id)
            settings = customer["invoice_settings"]
            previous = {
                "invoice_settings": {"default_payment_method": settings["default_payment_method"]}
            }
            settings["default_payment_method"] = self._new_id("pm_")
            self._cards[customer_id] = CARD_SUCCEEDS
            self._emit("customer.updated", customer, previous)
            return copy.deepcopy(customer)

    def update_customer(
        self,
        customer_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        metadata: dict[str, str] | None = None,
        clear_metadata: bool = False,
    ) -> Obj:
        """``POST /v1/customers/{id}``: a metadata value of ``""`` removes that key."""
        with self.lock:
            customer = self._live("customer", customer_id)
            previous: Obj = {}
            if clear_metadata or metadata:
                previous["metadata"] = dict(customer["metadata"])
                merged = {} if clear_metadata else dict(customer["metadata"])
                for key, value in (metadata or {}).items():
                    if value == "":
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                customer["metadata"] = merged
            for field, new in (("email", email), ("name", name)):
                if new is not None:
                    previous[field] = customer[field]
                    customer[field] = new
            if previous:
                self._emit("customer.updated", customer, previous)
            return copy.deepcopy(customer)

    # -- invoices -------------------------------------------------------------------------

    def create_invoice(
        self,
        customer_id: str,
        amount: int,
        currency: str = "usd",
        *,
        invoice_id: str | None = None,
        number: str | None = None,
        subscription: str | None = None,
        period_start: datetime | None = None,
        period_end: datetime | None = None,
        description: str | None = None,
        billing_reason: str = "subscription_cycle",
        metadata: dict[str, str] | None = None,
        finalize: bool = True,
    ) -> Obj:
        """A subscription invoice (``invoice.created``), finalized unless ``finalize`` is False.

        ``invoice_id`` (e.g. a scenario's ``in_acme_1``) and ``number`` are Stripe's own when not
        given. The period defaults to the month that starts now. ``subscription`` is a ``sub_``
        id the invoice names at ``parent.subscription_details.subscription``.
        """
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise SimulationError(f"an invoice amount is a positive int of minor units: {amount!r}")
        with self.lock:
            customer = self._live("customer", customer_id)
            if invoice_id is not None and invoice_id in self._objects["invoice"]:
                raise SimulationError(f"invoice {invoice_id} already exists")
            invoice_id = invoice_id or self._new_id("in_")
            start = int(period_start.timestamp()) if period_start else self._now()
            end = int(period_end.timestamp()) if period_end else start + 30 * 86400
            line = objects.invoice_line(
                line_id=self._new_id("il_"),
                invoice_id=invoice_id,
                amount=amount,
                currency=currency,
                description=description or "Subscription",
                period_start=start,
                period_end=end,
                subscription=subscription,
                subscription_item=self._new_id("si_", 14) if subscription else None,
            )
            invoice = objects.invoice(
                invoice_id=invoice_id,
                created=self._now(),
                customer_obj=customer,
                amount=amount,
                currency=currency,
                line=line,
                subscription=subscription,
                period_start=start,
                period_end=end,
                billing_reason=billing_reason,
                description=description,
                metadata=metadata or {},
                account_name=self.account_name,
            )
            if number is not None:
                self._numbers[invoice_id] = number
            self._put("invoice", invoice)
            customer["currency"] = customer["currency"] or currency
            self._emit("invoice.created", invoice)
            if finalize:
                self._finalize(invoice)
            return copy.deepcopy(invoice)

    def finalize_invoice(self, invoice_id: str) -> Obj:
        """Open a draft invoice: its number, hosted page and ``invoice.finalized``."""
        with self.lock:
            invoice = self._live("invoice", invoice_id)
            if invoice["status"] != "draft":
                raise SimulationError(f"invoice {invoice_id} is {invoice['status']}, not draft")
            self._finalize(invoice)
            return copy.deepcopy(invoice)

    def _finalize(self, invoice: Obj) -> None:
        customer = self._live("customer", invoice["customer"])
        number = self._numbers.pop(invoice["id"], None)
        if number is None:
            number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
            customer["next_invoice_sequence"] += 1
        secret = "".join(self._rng.choices(_ALPHABET, k=40))
        now = self._now()
        invoice.update(
            status="open",
            number=number,
            effective_at=now,
            next_payment_attempt=now,
            hosted_invoice_url=f"https://invoice.stripe.com/i/acct_revline/test_{secret}",
            invoice_pdf=f"https://pay.stripe.com/invoice/acct_revline/test_{secret}/pdf",
            webhooks_delivered_at=now,
        )
        invoice["status_transitions"]["finalized_at"] = now
        self._emit("invoice.finalized", invoice)

    def update_invoice(
        self,
        invoice_id: str,
        *,
        auto_advance: bool | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Obj:
        """``POST /v1/invoices/{id}``. With ``auto_advance`` off Stripe stops collecting the
        invoice by itself: no automatic retries, no dunning emails, no ``next_payment_attempt``."""
        with self.lock:
            invoice = self._live("invoice", invoice_id)
            previous: Obj = {}
            if auto_advance is not None and auto_advance != invoice["auto_advance"]:
                previous["auto_advance"] = invoice["auto_advance"]
                previous["next_payment_attempt"] = invoice["next_payment_attempt"]
                invoice["auto_advance"] = auto_advance
                invoice["next_payment_attempt"] = self._next_automatic_attempt(invoice)
            if description is not None:
                previous["description"] = invoice["description"]
                invoice["description"] = description
            if metadata:
                previous["metadata"] = dict(invoice["metadata"])
                for key, value in metadata.items():
                    if value == "":
                        invoice["metadata"].pop(key, None)
                    else:
                        invoice["metadata"][key] = value
            if previous:
                self._emit("invoice.updated", invoice, previous)
            return copy.deepcopy(invoice)

    def _next_automatic_attempt(self, invoice: Obj) -> int | None:
        """When Stripe would next try the card by itself, if it would."""
        if invoice["status"] != "open" or not invoice["auto_advance"]:
            return None
        last = self._last_decline.get(invoice["id"])
        if last is None:
            return self._now()  # never attempted yet: due now
        if last.hard or self._automatic_attempts.get(invoice["id"], 0) >= self.smart_retry_limit:
            return None
        return self._now() + int(self.smart_retry_after.total_seconds())

    def attempt_payment(
        self, invoice_id: str, outcome: CardOutcome | None = None
    ) -> PaymentAttempt:
        """Stripe's automatic charge of an invoice (the attempt at finalization; a draft is
        finalized first). The card behaves as ``outcome``, else as the customer's card does.

        On success: a charge, its payment intent and balance transaction (with Stripe's fee),
        ``charge.succeeded``, ``payment_intent.succeeded``, ``invoice.paid`` and
        ``invoice.payment_succeeded``. On failure: ``charge.failed``,
        ``payment_intent.payment_failed`` and ``invoice.payment_failed``, and, unless the
        invoice's ``auto_advance`` is off, the automated "payment failed" email.
        """
        with self.lock:
            invoice = self._live("invoice", invoice_id)
            if invoice["status"] == "draft":
                self._finalize(invoice)
            return self._collect(invoice, outcome, automatic=True)

    def smart_retry(
        self, invoice_id: str, outcome: CardOutcome | None = None
    ) -> PaymentAttempt | None:
        """Stripe's immediate automatic retry (Smart Retries) of a failed invoice.

        It does not run (returns None) when the invoice is no longer open, its ``auto_advance``
        is off, it was never attempted, its last decline was hard (lost or stolen card, expired
        card, fraud…) or the automatic attempts are used up.
        """
        with self.lock:
            invoice = self._live("invoice", invoice_id)
            last = self._last_decline.get(invoice_id)
            if (
                invoice["status"] != "open"
                or not invoice["auto_advance"]
                or last is None
                or last.hard
                or self._automatic_attempts.get(invoice_id, 0) >= self.smart_retry_limit
            ):
                return None
            return self._collect(invoice, outcome, automatic=True)

    def pay_invoice(
        self, invoice_id: str, *, paid_out_of_band: bool = False
    ) -> PaymentAttempt | Obj:
        """``POST /v1/invoices/{id}/pay``: a manual attempt, or marking it paid out of band.

        A declined attempt raises Stripe's 402 ``card_error`` (which Stripe saves for the
        idempotency key); its charge, events and ``attempt_count`` stay, as in Stripe. A payment
        arranged with ``before_next_pay`` lands first.
        """
        with self.lock:
            self._land_payment_before_pay(invoice_id)
            invoice = self._live("invoice", invoice_id)
            if invoice["status"] == "paid":
                raise invalid("Invoice is already paid.")
            if invoice["status"] in ("void", "uncollectible"):
                raise invalid(f"You cannot pay an invoice with status {invoice['status']}.")
            if invoice["status"] == "draft":
                self._finalize(invoice)
            if paid_out_of_band:
                return self._mark_paid_out_of_band(invoice)
            attempt = self._collect(invoice, None, automatic=False)
            if attempt.succeeded:
                return attempt
            raise StripeApiError(
                402,
                "card_error",
                attempt.charge["failure_message"],
                code=attempt.failure_code,
                decline_code=attempt.decline_code,
                extra={
                    "charge": attempt.charge["id"],
                    "payment_intent": copy.deepcopy(attempt.payment_intent),
                },
                saved=True,
            )

    def before_next_pay(self, invoice_id: str, payment: Callable[[], object]) -> None:
        """Have ``payment`` (the customer paying by another route, e.g. ``pay_out_of_band``)
        land the moment the next ``POST /v1/invoices/{id}/pay`` for the invoice arrives, before
        Stripe processes it: the customer who pays seconds before a manual retry. The retry then
        meets a paid invoice and is refused, as Stripe refuses it."""
        with self.lock:
            self._before_next_pay[invoice_id] = payment

    def _land_payment_before_pay(self, invoice_id: str) -> None:
        payment = self._before_next_pay.pop(invoice_id, None)
        invoice = self._objects["invoice"].get(invoice_id)
        if payment is None or invoice is None or invoice["status"] != "open":
            return  # nobody pays an invoice that is paid, voided or gone by then
        # The customer's doing, not the API request's: its events name no request.
        request, self._request = self._request, (None, None)
        try:
            payment()
        finally:
            self._request = request

    def send_invoice(self, invoice_id: str) -> Obj:
        """``POST /v1/invoices/{id}/send``: Stripe emails the customer the invoice and its hosted
        payment page (``invoice.sent``), whatever ``auto_advance`` says: the way to have Stripe
        write to a customer about an invoice Stripe no longer collects by itself."""
        with self.lock:
            invoice = self._live("invoice", invoice_id)
            if invoice["status"] in ("draft", "void"):
                raise invalid(f"You cannot send an invoice with status {invoice['status']}.")
            customer = self._live("customer", invoice["customer"])
            self._email_about(invoice, customer, "invoice_sent")
            self._emit("invoice.sent", invoice)
            return copy.deepcopy(invoice)

    def pay_out_of_band(self, invoice_id: str) -> Obj:
        """The customer paid outside Stripe (a bank transfer): the invoice is marked paid
        (``paid_out_of_band``) and ``invoice.paid`` is sent; no charge, no balance movement."""
        with self.lock:
            invoice = self._live("invoice", invoice_id)
            if invoice["status"] != "open":
                raise SimulationError(f"invoice {invoice_id} is {invoice['status']}, not open")
            return self._mark_paid_out_of_band(invoice)

    def close_unpaid(self, invoice_id: str, *, status: str) -> Obj:
        """Someone voids an open invoice in the dashboard (``invoice.voided``), or marks it
        uncollectible (``invoice.marked_uncollectible``): no more attempts."""
        events = {"void": "invoice.voided", "uncollectible": "invoice.marked_uncollectible"}
        if status not in events:
            raise SimulationError(f"an open invoice is closed void or uncollectible, not {status}")
        with self.lock:
            invoice = self._live("invoice", invoice_id)
            if invoice["status"] != "open":
                raise SimulationError(f"invoice {invoice_id} is {invoice['status']}, not open")
            invoice.update(status=status, next_payment_attempt=None)
            if status == "void":
                invoice["status_transitions"]["voided_at"] = self._now()
            else:
                invoice["status_transitions"]["marked_uncollectible_at"] = self._now()
            self._emit(events[status], invoice)
            return copy.deepcopy(invoice)

    def pay_on_invoice_page(self, invoice_id: str) -> PaymentAttempt:
        """The customer pays an open invoice on its hosted page with a card typed there; the
        card on file stays the default. The charge succeeds and settles, with the events of any
        paid attempt (``charge.succeeded`` … ``invoice.payment_succeeded``)."""
        with self.lock:
            invoice = self._live("invoice", invoice_id)
            if invoice["status"] != "open":
                raise SimulationError(f"invoice {invoice_id} is {invoice['status']}, not open")
            return self._collect(
                invoice, CARD_SUCCEEDS, automatic=False, payment_method=self._new_id("pm_")
            )

    def _mark_paid_out_of_band(self, invoice: Obj) -> Obj:
        self._mark_paid(invoice, invoice["amount_remaining"])
        self._emit("invoice.paid", invoice)
        return copy.deepcopy(invoice)

    def _mark_paid(self, invoice: Obj, amount: int) -> None:
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_paid"] + amount,
            amount_remaining=0,
            next_payment_attempt=None,
        )
        invoice["status_transitions"]["paid_at"] = self._now()
        self._live("customer", invoice["customer"])["delinquent"] = False

    def _intent_for(self, invoice: Obj, customer: Obj) -> tuple[Obj, Obj]:
        """The invoice's payment intent and invoice payment, made on its first attempt."""
        payment_id = self._invoice_payment_of.get(invoice["id"])
        if payment_id is not None:
            payment = self._objects["invoice_payment"][payment_id]
            intent = self._objects["payment_intent"][payment["payment"]["payment_intent"]]
            intent["payment_method"] = customer["invoice_settings"]["default_payment_method"]
            return intent, payment
        intent = objects.payment_intent(
            intent_id=self._new_id("pi_"),
            secret="".join(self._rng.choices(_ALPHABET, k=24)),
            created=self._now(),
            amount=invoice["amount_remaining"],
            currency=invoice["currency"],
            customer=customer["id"],
            payment_method=customer["invoice_settings"]["default_payment_method"],
            description="Subscription update" if invoice["parent"] else "Payment for Invoice",
            receipt_email=None,
        )
        self._put("payment_intent", intent)
        payment = objects.invoice_payment(
            payment_id=self._new_id("inpay_"),
            created=self._now(),
            invoice_obj=invoice,
            payment_intent=intent["id"],
        )
        self._put("invoice_payment", payment)
        self._invoice_payment_of[invoice["id"]] = payment["id"]
        return intent, payment

    def _new_charge(
        self,
        *,
        amount: int,
        currency: str,
        customer: str | None,
        email: str | None,
        name: str | None,
        intent: Obj,
        description: str | None,
        outcome: CardOutcome,
    ) -> Obj:
        charge = objects.charge(
            charge_id=self._new_id("ch_"),
            created=self._now(),
            amount=amount,
            currency=currency,
            customer=customer,
            email=email,
            name=name,
            payment_intent=intent["id"],
            payment_method=intent["payment_method"],
            description=description,
            failure_code=outcome.failure_code,
            decline_code=outcome.decline_code,
            receipt_secret="".join(self._rng.choices(_ALPHABET, k=48)),
        )
        self._put("charge", charge)
        intent["latest_charge"] = charge["id"]
        if outcome.succeeds:
            txn = self._balance_transaction(
                amount=amount,
                fee=self.fee_schedule.fee(amount),
                currency=currency,
                txn_type="charge",
                reporting_category="charge",
                source=charge["id"],
                description=description,
            )
            charge["balance_transaction"] = txn["id"]
            intent.update(status="succeeded", amount_received=amount, last_payment_error=None)
        else:
            intent.update(
                status="requires_payment_method",
                last_payment_error={
                    "charge": charge["id"],
                    "code": outcome.failure_code,
                    "decline_code": outcome.decline_code,
                    "doc_url": f"https://stripe.com/docs/error-codes/{outcome.failure_code}",
                    "message": charge["failure_message"],
                    "payment_method": {"id": intent["payment_method"], "object": "payment_method"},
                    "type": "card_error",
                },
            )
        return charge

    def _collect(
        self,
        invoice: Obj,
        outcome: CardOutcome | None,
        *,
        automatic: bool,
        payment_method: str | None = None,
    ) -> PaymentAttempt:
        """One charge attempt, with the card on file unless ``payment_method`` names another."""
        if invoice["status"] != "open":
            raise SimulationError(f"invoice {invoice['id']} is {invoice['status']}, not open")
        customer = self._live("customer", invoice["customer"])
        card = outcome or self._cards[customer["id"]]
        intent, payment = self._intent_for(invoice, customer)
        if payment_method is not None:
            intent["payment_method"] = payment_method
        amount = invoice["amount_remaining"]
        intent["amount"] = amount
        charge = self._new_charge(
            amount=amount,
            currency=invoice["currency"],
            customer=customer["id"],
            email=customer["email"],
            name=customer["name"],
            intent=intent,
            description=intent["description"],
            outcome=card,
        )
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        if automatic:
            self._automatic_attempts[invoice["id"]] = (
                self._automatic_attempts.get(invoice["id"], 0) + 1
            )
        if card.succeeds:
            self._mark_paid(invoice, amount)
            payment.update(status="paid", amount_paid=amount)
            payment["status_transitions"]["paid_at"] = self._now()
            self._emit("charge.succeeded", charge)
            self._emit("payment_intent.succeeded", intent)
            self._emit("invoice.paid", invoice)
            self._emit("invoice.payment_succeeded", invoice)
        else:
            self._last_decline[invoice["id"]] = card
            if automatic:
                invoice["next_payment_attempt"] = self._next_automatic_attempt(invoice)
            customer["delinquent"] = True
            self._emit("charge.failed", charge)
            self._emit("payment_intent.payment_failed", intent)
            self._emit("invoice.payment_failed", invoice)
            if automatic and invoice["auto_advance"]:
                self._email_about(invoice, customer, "payment_failed")
        return PaymentAttempt(
            card.succeeds,
            copy.deepcopy(invoice),
            copy.deepcopy(charge),
            copy.deepcopy(intent),
        )

    # -- payments tied to no invoice ------------------------------------------------------

    def orphan_payment(
        self,
        email: str,
        amount: int,
        currency: str = "usd",
        *,
        via: Literal["checkout_link", "portal"] = "checkout_link",
        customer_id: str | None = None,
    ) -> OrphanPayment:
        """A one-off card payment tied to no invoice, which succeeds and settles.

        ``checkout_link``: paid through a Payment Link's Checkout page; no customer is created,
        the payer's email is on the session's ``customer_details``, the charge's
        ``billing_details`` and ``receipt_email`` (``checkout.session.completed`` besides the
        charge and payment intent events). ``portal``: paid in the billing portal by a Stripe
        customer (``customer_id``, or a new one with this email); there is no Checkout session.
        """
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise SimulationError(f"a payment amount is a positive int of minor units: {amount!r}")
        with self.lock:
            customer: Obj | None = None
            if via == "portal":
                if customer_id is None:
                    customer_id = self.create_customer(email)["id"]
                customer = self._live("customer", customer_id)
            payment_method = (
                customer["invoice_settings"]["default_payment_method"]
                if customer
                else self._new_id("pm_")
            )
            intent = objects.payment_intent(
                intent_id=self._new_id("pi_"),
                secret="".join(self._rng.choices(_ALPHABET, k=24)),
                created=self._now(),
                amount=amount,
                currency=currency,
                customer=customer["id"] if customer else None,
                payment_method=payment_method,
                description=None,
                receipt_email=email,
            )
            self._put("payment_intent", intent)
            charge = self._new_charge(
                amount=amount,
                currency=currency,
                customer=customer["id"] if customer else None,
                email=email,
                name=customer["name"] if customer else None,
                intent=intent,
                description=None,
                outcome=CARD_SUCCEEDS,
            )
            session = None
            if via == "checkout_link":
                session = self._put(
                    "checkout.session",
                    objects.checkout_session(
                        session_id=self._new_id("cs_test_", 58),
                        created=self._now(),
                        amount=amount,
                        currency=currency,
                        email=email,
                        payment_intent=intent["id"],
                        payment_link=self._new_id("plink_"),
                    ),
                )
            self._emit("charge.succeeded", charge)
            self._emit("payment_intent.succeeded", intent)
            if session is not None:
                self._emit("checkout.session.completed", session)
            return OrphanPayment(
                copy.deepcopy(charge), copy.deepcopy(intent), copy.deepcopy(session)
            )

    # -- refunds, disputes, credit notes --------------------------------------------------

    def create_refund(
        self,
        charge_id: str,
        *,
        amount: int | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Obj:
        """Refund a succeeded charge, all of what is left or ``amount`` (``refund.created``,
        ``charge.refunded``); the refund's balance transaction carries no fee."""
        with self.lock:
            charge = self._live("charge", charge_id, "charge")
            if charge["status"] != "succeeded":
                raise invalid(f"Charge {charge_id} has not succeeded; it cannot be refunded.")
            # A chargeback withdrew the money already: Stripe refuses to return it again.
            if any(
                d["charge"] == charge_id and not d["is_charge_refundable"]
                for d in self._objects["dispute"].values()
            ):
                raise invalid(
                    f"Charge {charge_id} has been charged back; cannot issue a refund.",
                    code="charge_disputed",
                )
            left = charge["amount"] - charge["amount_refunded"]
            if left == 0:
                raise invalid(
                    f"Charge {charge_id} has already been refunded.",
                    code="charge_already_refunded",
                )
            amount = left if amount is None else amount
            if amount <= 0:
                raise invalid("Invalid positive integer", param="amount")
            if amount > left:
                raise invalid(
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                    f"({left})",
                    param="amount",
                    code="amount_too_large",
                )
            if reason is not None and reason not in REFUND_REASONS:
                raise invalid(
                    "Invalid reason: must be one of duplicate, fraudulent, or "
                    "requested_by_customer",
                    param="reason",
                )
            refund_id = self._new_id("re_")
            txn = self._balance_transaction(
                amount=-amount,
                fee=0,
                currency=charge["currency"],
                txn_type="refund",
                reporting_category="refund",
                source=refund_id,
                description="REFUND FOR CHARGE",
            )
            refund = self._put(
                "refund",
                objects.refund(
                    refund_id=refund_id,
                    created=self._now(),
                    charge_obj=charge,
                    amount=amount,
                    reason=reason,
                    metadata=metadata or {},
                    balance_transaction=txn["id"],
                    status="pending" if self.refunds_settle_later else "succeeded",
                ),
            )
            previous = {
                "amount_refunded": charge["amount_refunded"],
                "refunded": charge["refunded"],
            }
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
            self._emit("refund.created", refund)
            self._emit("charge.refunded", charge, previous)
            return copy.deepcopy(refund)

    def settle_refund(
        self, refund_id: str, *, succeeded: bool, failure_reason: str = "lost_or_stolen_card"
    ) -> Obj:
        """A pending refund settles (``refund.updated``): it succeeds, or it fails and its money
        comes back to the balance (a ``refund_failure`` movement), off the charge's refunded
        amount, as Stripe does. A refund that succeeded may still fail later (the card it went
        back to was closed): Stripe says so the same way; nothing else changes."""
        with self.lock:
            refund = self._live("refund", refund_id, "refund")
            before = refund["status"]
            if before != "pending" and not (before == "succeeded" and not succeeded):
                raise invalid(f"Refund {refund_id} is {before}, not pending.")
            if succeeded:
                refund["status"] = "succeeded"
            else:
                txn = self._balance_transaction(
                    amount=refund["amount"],
                    fee=0,
                    currency=refund["currency"],
                    txn_type="refund_failure",
                    reporting_category="refund_failure",
                    source=refund_id,
                    description="REFUND FAILURE",
                )
                refund.update(
                    status="failed",
                    failure_reason=failure_reason,
                    failure_balance_transaction=txn["id"],
                )
                charge = self._live("charge", refund["charge"], "charge")
                charge["amount_refunded"] -= refund["amount"]
                charge["refunded"] = False
            charge = self._live("charge", refund["charge"], "charge")
            charge["refunds"]["data"] = [
                copy.deepcopy(refund) if r["id"] == refund_id else r
                for r in charge["refunds"]["data"]
            ]
            self._emit("refund.updated", refund, {"status": before})
            return copy.deepcopy(refund)

    def refunds_of(self, charge_id: str) -> list[Obj]:
        """A charge's refunds, newest first (live)."""
        with self.lock:
            return [r for r in self.newest_first("refund") if r["charge"] == charge_id]

    def dispute(
        self, charge_id: str, *, amount: int | None = None, reason: str = "fraudulent"
    ) -> Obj:
        """The cardholder disputed a charge (``charge.dispute.created``): the amount and Stripe's
        dispute fee leave the balance as an ``adjustment``."""
        with self.lock:
            charge = self._live("charge", charge_id, "charge")
            if charge["status"] != "succeeded":
                raise SimulationError(f"charge {charge_id} did not succeed; nothing to dispute")
            amount = charge["amount"] if amount is None else amount
            dispute_id = self._new_id("dp_")
            txn = self._balance_transaction(
                amount=-amount,
                fee=DISPUTE_FEE,
                currency=charge["currency"],
                txn_type="adjustment",
                reporting_category="dispute",
                source=dispute_id,
                description=f"Chargeback withdrawal for {charge_id}",
                fee_description="Dispute fee",
            )
            dispute = self._put(
                "dispute",
                objects.dispute(
                    dispute_id=dispute_id,
                    created=self._now(),
                    charge_obj=charge,
                    amount=amount,
                    reason=reason,
                    balance_transaction=copy.deepcopy(txn),
                    evidence_due_by=self._now() + 7 * 86400,
                ),
            )
            charge["disputed"] = True
            self._emit("charge.dispute.created", dispute)
            return copy.deepcopy(dispute)

    def close_dispute(self, dispute_id: str, *, won: bool) -> Obj:
        """The bank decided (``charge.dispute.closed``): won, the amount comes back to the
        balance (``dispute_reversal``, the fee stays withdrawn) and the charge may be refunded
        again; lost, the money stays with the cardholder. The charge stays ``disputed``."""
        with self.lock:
            dispute = self._live("dispute", dispute_id, "dispute")
            if dispute["status"] in ("won", "lost"):
                raise SimulationError(f"dispute {dispute_id} is already {dispute['status']}")
            dispute["status"] = "won" if won else "lost"
            if won:
                txn = self._balance_transaction(
                    amount=dispute["amount"],
                    fee=0,
                    currency=dispute["currency"],
                    txn_type="adjustment",
                    reporting_category="dispute_reversal",
                    source=dispute_id,
                    description=f"Chargeback reversal for {dispute['charge']}",
                )
                dispute["balance_transactions"].append(copy.deepcopy(txn))
                dispute["is_charge_refundable"] = True
                self._emit("charge.dispute.funds_reinstated", dispute)
            self._emit("charge.dispute.closed", dispute)
            return copy.deepcopy(dispute)

    def issue_credit_note(
        self, invoice_id: str, amount: int, *, reason: str | None = None, memo: str | None = None
    ) -> Obj:
        """A credit note on a finalized invoice (``credit_note.created``). On an open invoice it
        is ``pre_payment`` and lowers what is due (an invoice credited in full is paid); on a
        paid one it is ``post_payment``, credited out of band."""
        with self.lock:
            invoice = self._live("invoice", invoice_id)
            if invoice["status"] not in ("open", "paid"):
                raise SimulationError(f"invoice {invoice_id} is {invoice['status']}")
            if reason is not None and reason not in CREDIT_NOTE_REASONS:
                raise SimulationError(f"credit note reason must be one of {CREDIT_NOTE_REASONS}")
            post_payment = invoice["status"] == "paid"
            ceiling = invoice["total"] if post_payment else invoice["amount_remaining"]
            if not 0 < amount <= ceiling:
                raise SimulationError(f"credit note amount must be within 1..{ceiling}")
            count = sum(
                1 for n in self._objects["credit_note"].values() if n["invoice"] == invoice_id
            )
            note = objects.credit_note(
                credit_note_id=self._new_id("cn_"),
                line_id=self._new_id("cnli_"),
                created=self._now(),
                invoice_obj=invoice,
                number=f"{invoice['number']}-CN-{count + 1:02d}",
                amount=amount,
                reason=reason,
                memo=memo,
                post_payment=post_payment,
            )
            if post_payment:
                note["out_of_band_amount"] = amount
                invoice["post_payment_credit_notes_amount"] += amount
            else:
                invoice["pre_payment_credit_notes_amount"] += amount
                invoice["amount_due"] -= amount
                invoice["amount_remaining"] -= amount
            self._put("credit_note", note)
            self._emit("credit_note.created", note)
            if not post_payment and invoice["amount_remaining"] == 0:
                self._mark_paid(invoice, 0)
                self._emit("invoice.paid", invoice)
            return copy.deepcopy(note)

    # -- the balance and payouts ----------------------------------------------------------

    def _balance_transaction(
        self,
        *,
        amount: int,
        fee: int,
        currency: str,
        txn_type: str,
        reporting_category: str,
        source: str,
        description: str | None,
        fee_description: str = "Stripe processing fees",
    ) -> Obj:
        return self._put(
            "balance_transaction",
            objects.balance_transaction(
                txn_id=self._new_id("txn_"),
                created=self._now(),
                amount=amount,
                fee=fee,
                currency=currency,
                txn_type=txn_type,
                reporting_category=reporting_category,
                source=source,
                description=description,
                fee_description=fee_description,
            ),
        )

    def balance(self) -> Obj:
        """The payments balance as Stripe reports it: the net of every balance transaction
        that moves it, by currency, available once its ``available_on`` has come and pending
        until then (a payout's own movement took its money off the balance when it was
        created)."""
        with self.lock:
            now = self._now()
            available: dict[str, int] = defaultdict(int)
            pending: dict[str, int] = defaultdict(int)
            for txn in self._objects["balance_transaction"].values():
                if txn["balance_type"] != "payments":
                    continue
                funds = available if txn["available_on"] <= now else pending
                funds[txn["currency"]] += txn["net"]
            return objects.balance(available=available, pending=pending)

    def create_payout(
        self,
        arrival_date: date | None = None,
        fee_rate: FeeSchedule | None = None,
        currency: str = "usd",
    ) -> Obj | None:
        """An automatic payout of everything available in ``currency`` (``payout.created``),
        in transit until its ``arrival_date`` (default: the UTC day ``payout_delay`` from now);
        None when the available balance is not positive, as Stripe makes no payout then.

        As Stripe gives it, ``arrival_date`` is a day: midnight UTC of the day the bank receives
        the payout, which is when the payout is paid (``settle_payouts``).

        Stripe fixes a charge's fee when the charge is made. ``fee_rate``, when given, is the
        account's pricing from now on and reprices the charges this payout settles, as if it
        had been the pricing when they were made (a sandbox convenience: a scenario names the
        rate on the payout).
        """
        with self.lock:
            waiting = self._unsettled(currency)
            if any(txn["type"] == "payout" for txn in waiting):
                # What Stripe would settle after payouts made by hand is not modelled.
                raise SimulationError(
                    "this account pays out by hand: Stripe makes manual payouts only on a manual "
                    "payout schedule, and no automatic payout then"
                )
            if fee_rate is not None:
                self.fee_schedule = fee_rate
                for txn in waiting:
                    if txn["type"] == "charge":
                        self._reprice(txn)
            total = sum(txn["net"] for txn in waiting)
            if total <= 0:
                return None
            payout = self._pay_out(total, currency, arrival_date, automatic=True)
            for txn in waiting:
                self._payout_of[txn["id"]] = payout["id"]
            self._payout_of[payout["balance_transaction"]] = payout["id"]
            self._emit("payout.created", payout)
            return copy.deepcopy(payout)

    def create_manual_payout(
        self, amount: int, arrival_date: date | None = None, currency: str = "usd"
    ) -> Obj:
        """A manual payout (``automatic: false``, ``POST /v1/payouts`` with an amount): money
        taken from the available balance, settling no movement in particular, so Stripe lists
        no balance transactions for it (``payout_transactions`` refuses it)."""
        with self.lock:
            available = sum(txn["net"] for txn in self._unsettled(currency))
            if not 0 < amount <= available:
                raise SimulationError(
                    f"a manual payout of {amount} {currency} from an available balance of "
                    f"{available}"
                )
            payout = self._pay_out(amount, currency, arrival_date, automatic=False)
            self._emit("payout.created", payout)
            return copy.deepcopy(payout)

    def _unsettled(self, currency: str) -> list[Obj]:
        """Every movement in ``currency`` no automatic payout settled yet: the balance, less
        what manual payouts took from it (their own movements are among them)."""
        return [
            txn
            for txn in self._objects["balance_transaction"].values()
            if txn["id"] not in self._payout_of and txn["currency"] == currency
        ]

    def _pay_out(self, amount: int, currency: str, arrival: date | None, automatic: bool) -> Obj:
        """A payout in transit and its own balance transaction, which takes it off the balance."""
        payout_id = self._new_id("po_")
        own = self._balance_transaction(
            amount=-amount,
            fee=0,
            currency=currency,
            txn_type="payout",
            reporting_category="payout",
            source=payout_id,
            description="STRIPE PAYOUT",
        )
        day = arrival or (self.clock.now() + self.payout_delay).astimezone(UTC).date()
        return self._put(
            "payout",
            objects.payout(
                payout_id=payout_id,
                created=self._now(),
                arrival_date=int(datetime.combine(day, time(0), UTC).timestamp()),
                amount=amount,
                currency=currency,
                balance_transaction=own["id"],
                destination=self._bank_account,
                automatic=automatic,
            ),
        )

    def _reprice(self, txn: Obj) -> None:
        fee = self.fee_schedule.fee(txn["amount"])
        txn.update(fee=fee, net=txn["amount"] - fee)
        txn["fee_details"] = [
            {
                "amount": fee,
                "application": None,
                "currency": txn["currency"],
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]

    def payout_transactions(self, payout_id: str) -> list[Obj]:
        """The balance transactions an automatic payout settled, and its own, newest first
        (live). Stripe refuses the question for a manual payout."""
        with self.lock:
            if not self._live("payout", payout_id)["automatic"]:
                raise invalid(
                    "Balance transaction history can only be filtered on automatic transfers, "
                    "not manual.",
                    param="payout",
                )
            return [
                txn
                for txn in self.newest_first("balance_transaction")
                if self._payout_of.get(txn["id"]) == payout_id
            ]

    def settle_payouts(self) -> list[Obj]:
        """Payouts in transit whose arrival date has come are paid (``payout.paid``,
        ``payout.reconciliation_completed``); returns them."""
        with self.lock:
            settled = []
            for payout in self._objects["payout"].values():
                if payout["status"] == "in_transit" and payout["arrival_date"] <= self._now():
                    payout.update(status="paid", reconciliation_status="completed")
                    payout["trace_id"] = {
                        "status": "supported",
                        "value": "".join(self._rng.choices(string.digits, k=15)),
                    }
                    self._emit("payout.paid", payout)
                    self._emit("payout.reconciliation_completed", payout)
                    settled.append(copy.deepcopy(payout))
            return settled

    def fail_payout(self, payout_id: str, failure_code: str = "account_closed") -> Obj:
        """The bank returned a payout, even one already paid (``payout.failed``): its amount
        comes back to the balance."""
        with self.lock:
            payout = self._live("payout", payout_id)
            if payout["status"] == "failed":
                raise SimulationError(f"payout {payout_id} has already failed")
            returned = self._balance_transaction(
                amount=payout["amount"],
                fee=0,
                currency=payout["currency"],
                txn_type="payout_failure",
                reporting_category="payout_reversal",
                source=payout_id,
                description="STRIPE PAYOUT FAILURE",
            )
            payout.update(
                status="failed",
                failure_code=failure_code,
                failure_message="The bank account has been closed.",
                failure_balance_transaction=returned["id"],
            )
            self._emit("payout.failed", payout)
            return copy.deepcopy(payout)

    # -- links ----------------------------------------------------------------------------

    def create_portal_session(
        self, customer_id: str, *, return_url: str | None = None, flow_type: str | None = None
    ) -> Obj:
        """``POST /v1/billing_portal/sessions``: a short-lived portal link for a customer."""
        with self.lock:
            self._live("customer", customer_id, "customer")
            secret = "".join(self._rng.choices(_ALPHABET, k=32))
            session = objects.portal_session(
                session_id=self._new_id("bps_"),
                created=self._now(),
                customer=customer_id,
                configuration=self._portal_configuration,
                return_url=return_url,
                flow_type=flow_type,
                url=f"https://billing.stripe.com/p/session/test_{secret}",
            )
            return copy.deepcopy(self._put("billing_portal.session", session))
