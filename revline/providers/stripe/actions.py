"""The Stripe action kinds the executor can carry out, each a call to the adapter.

Every handler returns what Stripe confirmed (ids, statuses) as a JSON-serialisable dict, which
becomes the action's ``result``. A manual retry whose card is declined is carried out all the
same: its result says ``outcome: declined``; it is not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from revline.providers.base import ActionRequest, Handlers
from revline.providers.stripe.client import (
    DUNNING_PAUSED_METADATA,
    DUNNING_RESTORED_METADATA,
    MANUAL_CONTROL_METADATA,
    StripeAdapter,
)
from revline.providers.stripe.errors import StripeRequestError
from revline.providers.stripe.records import DunningChange

Result = dict[str, Any]


def _param(request: ActionRequest, name: str, *, default_subject: bool = False) -> str:
    """A string parameter; some kinds name their object by the action's subject instead."""
    value = request.params.get(name)
    if value is None and default_subject:
        value = request.subject
    if not isinstance(value, str) or not value:
        raise StripeRequestError(
            f"{request.kind} needs params.{name} (a Stripe id)", retryable=False, status=None
        )
    return value


def pay_invoice(adapter: StripeAdapter, request: ActionRequest) -> Result:
    """``stripe.invoice.pay``: a manual retry; ``outcome`` is paid, declined or pending."""
    invoice_id = _param(request, "invoice", default_subject=True)
    payment = adapter.pay_invoice(invoice_id, request.idempotency_key, request.attempt)
    invoice = payment.invoice
    return {
        "invoice": invoice.id,
        "outcome": payment.outcome,
        "status": invoice.status,
        "code": payment.code,
        "decline_code": payment.decline_code,
        "message": payment.message,
        "charge": payment.charge,
        "already_paid": payment.already_paid,
        "attempt_count": invoice.attempt_count,
        "amount_paid": invoice.amount_paid,
        "amount_remaining": invoice.amount_remaining,
        "currency": invoice.currency,
    }


def stop_auto_retry(adapter: StripeAdapter, request: ActionRequest) -> Result:
    """``stripe.invoice.stop_auto_retry``: Revline takes the invoice over (``auto_advance``
    off); marked as manual control, so restoring dunning later leaves it off."""
    invoice_id = _param(request, "invoice", default_subject=True)
    invoice = adapter.set_auto_advance(
        invoice_id,
        False,
        request.idempotency_key,
        metadata={
            MANUAL_CONTROL_METADATA: "true",
            DUNNING_PAUSED_METADATA: "",
            DUNNING_RESTORED_METADATA: "",
        },
    )
    return {
        "invoice": invoice.id,
        "status": invoice.status,
        "auto_advance": invoice.auto_advance,
        "next_payment_attempt": None,
    }


def send_invoice(adapter: StripeAdapter, request: ActionRequest) -> Result:
    """``stripe.invoice.send``: Stripe emails the customer the invoice and its payment page,
    for an invoice under manual control whose customer keeps Stripe's dunning."""
    invoice = adapter.send_invoice(
        _param(request, "invoice", default_subject=True), request.idempotency_key
    )
    return {"invoice": invoice.id, "status": invoice.status, "sent": True}


def _dunning_result(change: DunningChange) -> Result:
    return {
        "customer": change.customer,
        "dunning": change.state,
        "invoices": list(change.invoices),
        "at": change.at.isoformat(),
    }


def suppress_dunning(adapter: StripeAdapter, request: ActionRequest) -> Result:
    """``stripe.customer.suppress_dunning`` (see ``StripeAdapter.suppress_dunning``)."""
    customer = _param(request, "customer", default_subject=True)
    change = adapter.suppress_dunning(customer, request.idempotency_key, request.attempt)
    return _dunning_result(change)


def restore_dunning(adapter: StripeAdapter, request: ActionRequest) -> Result:
    """``stripe.customer.restore_dunning`` (see ``StripeAdapter.restore_dunning``)."""
    customer = _param(request, "customer", default_subject=True)
    change = adapter.restore_dunning(customer, request.idempotency_key, request.attempt)
    return _dunning_result(change)


def create_portal_link(adapter: StripeAdapter, request: ActionRequest) -> Result:
    """``stripe.portal_link.create``: a billing-portal session for updating the card."""
    customer = _param(request, "customer", default_subject=True)
    return_url = request.params.get("return_url")
    session = adapter.create_portal_session(
        customer,
        request.idempotency_key,
        return_url=return_url if isinstance(return_url, str) else None,
    )
    return {"customer": session.customer, "session": session.id, "url": session.url}


def create_refund(adapter: StripeAdapter, request: ActionRequest) -> Result:
    """``stripe.refund.create``: ``params.charge``, ``params.amount`` (minor units),
    ``params.reason`` (duplicate, fraudulent or requested_by_customer) and, optionally,
    ``params.metadata`` (text to text) kept on the refund: what names the case in the webhooks
    Stripe sends of it later."""
    charge = _param(request, "charge")
    amount = request.params.get("amount")
    reason = _param(request, "reason")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise StripeRequestError(
            "stripe.refund.create needs params.amount in minor units", retryable=False, status=None
        )
    metadata = request.params.get("metadata") or {}
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise StripeRequestError(
            "stripe.refund.create params.metadata must map text to text",
            retryable=False,
            status=None,
        )
    refund = adapter.create_refund(charge, amount, reason, request.idempotency_key, metadata)
    return {
        "refund": refund.id,
        "charge": refund.charge,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "reason": refund.reason,
    }


KINDS: Mapping[str, Callable[[StripeAdapter, ActionRequest], Result]] = {
    "stripe.invoice.pay": pay_invoice,
    "stripe.invoice.stop_auto_retry": stop_auto_retry,
    "stripe.invoice.send": send_invoice,
    "stripe.customer.suppress_dunning": suppress_dunning,
    "stripe.customer.restore_dunning": restore_dunning,
    "stripe.portal_link.create": create_portal_link,
    "stripe.refund.create": create_refund,
}


def register(handlers: Handlers, adapter: StripeAdapter) -> None:
    """Register every Stripe action kind, carried out through ``adapter``."""
    for kind, handle in KINDS.items():
        handlers.register(kind, _bound(handle, adapter))


def _bound(
    handle: Callable[[StripeAdapter, ActionRequest], Result], adapter: StripeAdapter
) -> Callable[[ActionRequest], Result]:
    def handler(request: ActionRequest) -> Result:
        return handle(adapter, request)

    return handler
