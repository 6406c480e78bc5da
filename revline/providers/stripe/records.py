"""Revline's own records of Stripe objects: what playbooks and reports see, never SDK objects.

Each record is built from the JSON Stripe sends (an API response or an event's ``data.object``),
so a webhook payload and a fetched object read the same way. Money stays in integer minor units
beside its currency; times are UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Json = Mapping[str, Any]
# The balance Stripe pays out, which payments, refunds and payouts move.
PAYMENTS_BALANCE = "payments"


def _id(value: object) -> str | None:
    """An expandable field: an id string, or the expanded object carrying one."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        inner = value.get("id")
        return inner if isinstance(inner, str) else None
    return None


def _opt_str(data: Json, key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _int(data: Json, key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Stripe object {data.get('id')!r} has no integer {key!r}")
    return value


def _opt_int(data: Json, key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(data: Json, key: str) -> datetime:
    return datetime.fromtimestamp(_int(data, key), UTC)


def _opt_time(data: Json, key: str) -> datetime | None:
    value = _opt_int(data, key)
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _object(data: Json, key: str) -> Json:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _metadata(data: Json) -> dict[str, str]:
    return {str(k): str(v) for k, v in _object(data, "metadata").items()}


@dataclass(frozen=True)
class Customer:
    id: str
    email: str | None
    name: str | None
    created: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)
    default_payment_method: str | None = None  # invoice_settings: the card invoices charge

    @classmethod
    def from_stripe(cls, data: Json) -> Customer:
        return cls(
            id=str(data["id"]),
            email=_opt_str(data, "email"),
            name=_opt_str(data, "name"),
            created=_time(data, "created"),
            metadata=_metadata(data),
            default_payment_method=_id(
                _object(data, "invoice_settings").get("default_payment_method")
            ),
        )


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Invoice:
    """An invoice. ``subscription`` comes from ``parent.subscription_details`` (the current
    shape); ``last_failure_code`` / ``last_decline_code`` from its payment's last error, when the
    adapter looked them up."""

    id: str
    number: str | None
    customer: str
    status: str
    amount_due: int
    amount_paid: int
    amount_remaining: int
    currency: str
    attempt_count: int
    attempted: bool
    next_payment_attempt: datetime | None
    auto_advance: bool
    collection_method: str | None
    subscription: str | None
    period: Period
    hosted_invoice_url: str | None
    billing_reason: str | None
    created: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)
    last_failure_code: str | None = None
    last_decline_code: str | None = None

    @classmethod
    def from_stripe(cls, data: Json) -> Invoice:
        parent = _object(data, "parent")
        subscription = _id(_object(parent, "subscription_details").get("subscription"))
        return cls(
            id=str(data["id"]),
            number=_opt_str(data, "number"),
            customer=_id(data.get("customer")) or "",
            status=str(data.get("status")),
            amount_due=_int(data, "amount_due"),
            amount_paid=_int(data, "amount_paid"),
            amount_remaining=_int(data, "amount_remaining"),
            currency=str(data["currency"]),
            attempt_count=_opt_int(data, "attempt_count") or 0,
            attempted=bool(data.get("attempted")),
            next_payment_attempt=_opt_time(data, "next_payment_attempt"),
            auto_advance=bool(data.get("auto_advance")),
            collection_method=_opt_str(data, "collection_method"),
            subscription=subscription,
            period=Period(_time(data, "period_start"), _time(data, "period_end")),
            hosted_invoice_url=_opt_str(data, "hosted_invoice_url"),
            billing_reason=_opt_str(data, "billing_reason"),
            created=_time(data, "created"),
            metadata=_metadata(data),
        )


@dataclass(frozen=True)
class ChargeOutcome:
    """Why the network and Stripe answered as they did (``type``: authorized, issuer_declined,
    blocked, …; ``reason``: the decline reason when there is one)."""

    type: str | None
    reason: str | None
    network_status: str | None
    network_decline_code: str | None
    seller_message: str | None

    @classmethod
    def from_stripe(cls, data: Json) -> ChargeOutcome:
        return cls(
            type=_opt_str(data, "type"),
            reason=_opt_str(data, "reason"),
            network_status=_opt_str(data, "network_status"),
            network_decline_code=_opt_str(data, "network_decline_code"),
            seller_message=_opt_str(data, "seller_message"),
        )


@dataclass(frozen=True)
class Charge:
    """A charge. ``decline_code`` is the issuer's reason (``outcome.reason`` of an issuer
    decline); ``invoice`` is filled by the adapter from the invoice's payments, since current
    charges no longer name their invoice."""

    id: str
    amount: int
    amount_refunded: int
    currency: str
    status: str
    paid: bool
    refunded: bool
    disputed: bool
    failure_code: str | None
    failure_message: str | None
    decline_code: str | None
    outcome: ChargeOutcome
    customer: str | None
    billing_email: str | None
    billing_name: str | None  # the cardholder's name as entered at payment
    receipt_email: str | None
    payment_intent: str | None
    balance_transaction: str | None
    description: str | None
    created: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)
    invoice: str | None = None

    @classmethod
    def from_stripe(cls, data: Json) -> Charge:
        outcome = ChargeOutcome.from_stripe(_object(data, "outcome"))
        declined = outcome.type in ("issuer_declined", "blocked")
        return cls(
            id=str(data["id"]),
            amount=_int(data, "amount"),
            amount_refunded=_opt_int(data, "amount_refunded") or 0,
            currency=str(data["currency"]),
            status=str(data.get("status")),
            paid=bool(data.get("paid")),
            refunded=bool(data.get("refunded")),
            disputed=bool(data.get("disputed")),
            failure_code=_opt_str(data, "failure_code"),
            failure_message=_opt_str(data, "failure_message"),
            decline_code=outcome.reason if declined else None,
            outcome=outcome,
            customer=_id(data.get("customer")),
            billing_email=_opt_str(_object(data, "billing_details"), "email"),
            billing_name=_opt_str(_object(data, "billing_details"), "name"),
            receipt_email=_opt_str(data, "receipt_email"),
            payment_intent=_id(data.get("payment_intent")),
            balance_transaction=_id(data.get("balance_transaction")),
            description=_opt_str(data, "description"),
            created=_time(data, "created"),
            metadata=_metadata(data),
        )


@dataclass(frozen=True)
class PaymentIntent:
    id: str
    amount: int
    amount_received: int
    currency: str
    status: str
    customer: str | None
    latest_charge: str | None
    last_error_code: str | None
    last_decline_code: str | None
    receipt_email: str | None
    created: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_stripe(cls, data: Json) -> PaymentIntent:
        error = _object(data, "last_payment_error")
        return cls(
            id=str(data["id"]),
            amount=_int(data, "amount"),
            amount_received=_opt_int(data, "amount_received") or 0,
            currency=str(data["currency"]),
            status=str(data.get("status")),
            customer=_id(data.get("customer")),
            latest_charge=_id(data.get("latest_charge")),
            last_error_code=_opt_str(error, "code"),
            last_decline_code=_opt_str(error, "decline_code"),
            receipt_email=_opt_str(data, "receipt_email"),
            created=_time(data, "created"),
            metadata=_metadata(data),
        )


RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]
REFUND_REASONS: tuple[RefundReason, ...] = ("duplicate", "fraudulent", "requested_by_customer")


@dataclass(frozen=True)
class Refund:
    id: str
    amount: int
    currency: str
    charge: str | None
    payment_intent: str | None
    reason: str | None
    status: str
    balance_transaction: str | None
    created: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_stripe(cls, data: Json) -> Refund:
        return cls(
            id=str(data["id"]),
            amount=_int(data, "amount"),
            currency=str(data["currency"]),
            charge=_id(data.get("charge")),
            payment_intent=_id(data.get("payment_intent")),
            reason=_opt_str(data, "reason"),
            status=str(data.get("status")),
            balance_transaction=_id(data.get("balance_transaction")),
            created=_time(data, "created"),
            metadata=_metadata(data),
        )


# A dispute still in play: the cardholder's bank has not decided, or has not been answered.
DISPUTE_OPEN = frozenset(
    {"warning_needs_response", "warning_under_review", "needs_response", "under_review"}
)


@dataclass(frozen=True)
class Dispute:
    id: str
    charge: str | None
    amount: int
    currency: str
    status: str  # DISPUTE_OPEN, or won, lost, warning_closed, prevented
    is_charge_refundable: bool
    created: datetime

    @property
    def open(self) -> bool:
        return self.status in DISPUTE_OPEN

    @classmethod
    def from_stripe(cls, data: Json) -> Dispute:
        return cls(
            id=str(data["id"]),
            charge=_id(data.get("charge")),
            amount=_int(data, "amount"),
            currency=str(data["currency"]),
            status=str(data.get("status")),
            is_charge_refundable=bool(data.get("is_charge_refundable")),
            created=_time(data, "created"),
        )


@dataclass(frozen=True)
class CreditNote:
    id: str
    number: str | None
    invoice: str | None
    customer: str | None
    amount: int
    currency: str
    status: str
    type: str
    reason: str | None
    memo: str | None
    effective_at: datetime | None
    created: datetime

    @classmethod
    def from_stripe(cls, data: Json) -> CreditNote:
        return cls(
            id=str(data["id"]),
            number=_opt_str(data, "number"),
            invoice=_id(data.get("invoice")),
            customer=_id(data.get("customer")),
            amount=_int(data, "amount"),
            currency=str(data["currency"]),
            status=str(data.get("status")),
            type=str(data.get("type")),
            reason=_opt_str(data, "reason"),
            memo=_opt_str(data, "memo"),
            effective_at=_opt_time(data, "effective_at"),
            created=_time(data, "created"),
        )


@dataclass(frozen=True)
class Payout:
    id: str
    amount: int
    currency: str
    arrival_date: datetime
    created: datetime
    status: str
    automatic: bool
    reconciliation_status: str | None
    balance_transaction: str | None
    method: str | None
    failure_code: str | None
    failure_message: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_stripe(cls, data: Json) -> Payout:
        return cls(
            id=str(data["id"]),
            amount=_int(data, "amount"),
            currency=str(data["currency"]),
            arrival_date=_time(data, "arrival_date"),
            created=_time(data, "created"),
            status=str(data.get("status")),
            automatic=bool(data.get("automatic")),
            reconciliation_status=_opt_str(data, "reconciliation_status"),
            balance_transaction=_id(data.get("balance_transaction")),
            method=_opt_str(data, "method"),
            failure_code=_opt_str(data, "failure_code"),
            failure_message=_opt_str(data, "failure_message"),
            metadata=_metadata(data),
        )


@dataclass(frozen=True)
class FeeDetail:
    amount: int
    currency: str
    description: str | None
    type: str

    @classmethod
    def from_stripe(cls, data: Json) -> FeeDetail:
        return cls(
            amount=_int(data, "amount"),
            currency=str(data["currency"]),
            description=_opt_str(data, "description"),
            type=str(data.get("type")),
        )


@dataclass(frozen=True)
class BalanceTransaction:
    """A movement of the Stripe balance: ``net = amount - fee``; ``source`` is the charge,
    refund, dispute or payout behind it."""

    id: str
    amount: int
    fee: int
    fee_details: tuple[FeeDetail, ...]
    net: int
    currency: str
    type: str
    reporting_category: str
    source: str | None
    status: str
    available_on: datetime
    created: datetime
    description: str | None
    # Which of the account's balances it moves: ``payments`` (the balance Stripe pays out, the
    # top-level available and pending of GET /v1/balance), ``issuing`` or
    # ``refund_and_dispute_prefunding``.
    balance_type: str = PAYMENTS_BALANCE

    @classmethod
    def from_stripe(cls, data: Json) -> BalanceTransaction:
        details = data.get("fee_details")
        return cls(
            id=str(data["id"]),
            amount=_int(data, "amount"),
            fee=_int(data, "fee"),
            fee_details=tuple(
                FeeDetail.from_stripe(item)
                for item in (details if isinstance(details, list) else [])
                if isinstance(item, Mapping)
            ),
            net=_int(data, "net"),
            currency=str(data["currency"]),
            type=str(data.get("type")),
            reporting_category=str(data.get("reporting_category")),
            source=_id(data.get("source")),
            status=str(data.get("status")),
            available_on=_time(data, "available_on"),
            created=_time(data, "created"),
            description=_opt_str(data, "description"),
            balance_type=_opt_str(data, "balance_type") or PAYMENTS_BALANCE,
        )


@dataclass(frozen=True)
class PortalSession:
    """A short-lived billing-portal link."""

    id: str
    url: str
    customer: str
    return_url: str | None
    created: datetime

    @classmethod
    def from_stripe(cls, data: Json) -> PortalSession:
        return cls(
            id=str(data["id"]),
            url=str(data["url"]),
            customer=_id(data.get("customer")) or "",
            return_url=_opt_str(data, "return_url"),
            created=_time(data, "created"),
        )


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    mode: str
    status: str | None
    payment_status: str | None
    payment_intent: str | None
    customer: str | None
    email: str | None
    url: str | None
    amount_total: int | None
    currency: str | None
    created: datetime

    @classmethod
    def from_stripe(cls, data: Json) -> CheckoutSession:
        return cls(
            id=str(data["id"]),
            mode=str(data.get("mode")),
            status=_opt_str(data, "status"),
            payment_status=_opt_str(data, "payment_status"),
            payment_intent=_id(data.get("payment_intent")),
            customer=_id(data.get("customer")),
            email=_opt_str(_object(data, "customer_details"), "email"),
            url=_opt_str(data, "url"),
            amount_total=_opt_int(data, "amount_total"),
            currency=_opt_str(data, "currency"),
            created=_time(data, "created"),
        )


@dataclass(frozen=True)
class Event:
    """An event; ``payload`` is the event JSON exactly as Stripe sends it."""

    id: str
    type: str
    created: datetime
    object_id: str | None
    payload: Mapping[str, Any]

    @classmethod
    def from_stripe(cls, data: Json) -> Event:
        return cls(
            id=str(data["id"]),
            type=str(data["type"]),
            created=_time(data, "created"),
            object_id=_id(_object(data, "data").get("object")),
            payload=data,
        )


PayOutcome = Literal["paid", "declined", "pending"]


@dataclass(frozen=True)
class InvoicePayment:
    """What a manual retry of an invoice came to.

    ``declined`` is a business outcome, not a failure of the request: the retry was carried out
    and the card was declined. ``already_paid`` says no charge was attempted because the invoice
    was paid before the call.
    """

    invoice: Invoice
    outcome: PayOutcome
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    charge: str | None = None
    already_paid: bool = False


DunningState = Literal["suppressed", "restored"]


@dataclass(frozen=True)
class DunningChange:
    """What turning a customer's automated dunning off or back on changed."""

    customer: str
    state: DunningState
    invoices: tuple[str, ...]
    at: datetime
