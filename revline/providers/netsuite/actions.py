"""The NetSuite action kinds the executor can run, each a call to ``NetSuiteAdapter``.

Every handler passes the action's idempotency key through to NetSuite and returns a JSON-ready
confirmation of what NetSuite now holds. Parameters that cannot be right (lines that do not sum
to the payout, an unknown customer) are refused without retry: they go to a person.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from revline.clock import to_utc
from revline.money import Money
from revline.providers.base import ActionRequest, Handlers
from revline.providers.netsuite import errors
from revline.providers.netsuite.client import NetSuiteAdapter, TimelineEntry
from revline.providers.netsuite.deposits import DepositRequest

REVENUE_HOLD = "netsuite.revenue.hold"
REVENUE_RESUME = "netsuite.revenue.resume"
DEPOSIT_CREATE = "netsuite.deposit.create"
INVOICE_VOID = "netsuite.invoice.void"
REVENUE_EXIT = "netsuite.revenue.exit"
CUSTOMER_REFUND_CREATE = "netsuite.customer_refund.create"
CUSTOMER_LOG_MESSAGE = "netsuite.customer.log_message"
CUSTOMER_PAYMENT_CREATE = "netsuite.customer_payment.create"
DEFAULT_HOLD_REASON = "dunning"


def register(
    handlers: Handlers, adapter: NetSuiteAdapter, *, processing_fee_gl: str = "6700-8"
) -> None:
    """Register every NetSuite action kind; fee lines without an account go to
    ``processing_fee_gl`` (``policy.processing_fee_gl``)."""
    actions = NetSuiteActions(adapter, processing_fee_gl)
    handlers.register(REVENUE_HOLD, actions.hold_revenue)
    handlers.register(REVENUE_RESUME, actions.resume_revenue)
    handlers.register(DEPOSIT_CREATE, actions.create_deposit)
    handlers.register(INVOICE_VOID, actions.void_invoice)
    handlers.register(REVENUE_EXIT, actions.exit_revenue)
    handlers.register(CUSTOMER_REFUND_CREATE, actions.refund_customer)
    handlers.register(CUSTOMER_LOG_MESSAGE, actions.log_message)
    handlers.register(CUSTOMER_PAYMENT_CREATE, actions.create_customer_payment)


def _text(params: Mapping[str, Any], key: str, default: str | None = None) -> str:
    raw = params.get(key, default)
    if not isinstance(raw, str) or not raw.strip():
        raise errors.refused(f"params.{key} must be a non-empty string")
    return raw.strip()


def _optional_text(params: Mapping[str, Any], key: str) -> str | None:
    raw = params.get(key)
    return raw.strip() if isinstance(raw, str) and raw.strip() else None


class NetSuiteActions:
    """The handlers, sharing one adapter."""

    def __init__(self, adapter: NetSuiteAdapter, processing_fee_gl: str) -> None:
        self.adapter = adapter
        self.processing_fee_gl = processing_fee_gl

    def hold_revenue(self, request: ActionRequest) -> Mapping[str, Any]:
        """``netsuite.revenue.hold`` {customer, reason}: hold recognition for a customer."""
        customer = self.adapter.resolve_customer(_text(request.params, "customer"))
        reason = _text(request.params, "reason", DEFAULT_HOLD_REASON)
        change = self.adapter.hold_revenue(
            customer.id, reason, idempotency_key=request.idempotency_key
        )
        return {
            "customer": customer.id,
            "reason": reason,
            "held": list(change.changed),
            "already_held": list(change.unchanged),
            "plans_on_hold": [plan.id for plan in change.plans if plan.on_hold],
            "replayed": change.replayed,
        }

    def resume_revenue(self, request: ActionRequest) -> Mapping[str, Any]:
        """``netsuite.revenue.resume`` {customer, reason}: release the holds of that reason."""
        customer = self.adapter.resolve_customer(_text(request.params, "customer"))
        reason = _text(request.params, "reason", DEFAULT_HOLD_REASON)
        change = self.adapter.release_revenue(
            customer.id, reason, idempotency_key=request.idempotency_key
        )
        return {
            "customer": customer.id,
            "reason": reason,
            "released": list(change.changed),
            "left_on_hold": list(change.unchanged),
            "replayed": change.replayed,
        }

    def create_deposit(self, request: ActionRequest) -> Mapping[str, Any]:
        """``netsuite.deposit.create`` {payout, amount, currency, lines[, date, bank_account]}."""
        deposit_request = DepositRequest.from_params(request.params, self.processing_fee_gl)
        deposit, replayed = self.adapter.create_deposit(
            deposit_request, idempotency_key=request.idempotency_key
        )
        return {
            "deposit": deposit.id,
            "number": deposit.number,
            "payout": deposit.stripe_payout_id,
            "total": deposit.total,
            "currency": deposit.currency,
            "date": deposit.date.isoformat(),
            "lines": [
                {
                    "sublist": line.sublist,
                    "amount": line.amount,
                    "account": line.account_number,
                    "payment": line.payment_id,
                }
                for line in deposit.lines
            ],
            "replayed": replayed,
        }

    def void_invoice(self, request: ActionRequest) -> Mapping[str, Any]:
        """``netsuite.invoice.void`` {invoice[, unapply_payments]}: void by internal id or
        document number; with ``unapply_payments`` a paid invoice's payments come off first."""
        invoice = self.adapter.resolve_invoice(_text(request.params, "invoice"))
        unapply = request.params.get("unapply_payments", False)
        if not isinstance(unapply, bool):
            raise errors.refused("params.unapply_payments must be true or false")
        voided = self.adapter.void_invoice(
            invoice.id, idempotency_key=request.idempotency_key, unapply_payments=unapply
        )
        return {
            "invoice": voided.invoice.id,
            "number": voided.invoice.number,
            "status": voided.invoice.status.value,
            "unapplied_payments": list(voided.unapplied_payments),
            "replayed": voided.replayed,
        }

    def exit_revenue(self, request: ActionRequest) -> Mapping[str, Any]:
        """``netsuite.revenue.exit`` {invoice, reason}: the invoice leaves the recognition
        schedule (its revenue plans are removed)."""
        invoice = self.adapter.resolve_invoice(_text(request.params, "invoice"))
        reason = _text(request.params, "reason")
        removed = self.adapter.exit_revenue(
            invoice.id, reason, idempotency_key=request.idempotency_key
        )
        return {"invoice": invoice.id, "reason": reason, "removed_plans": removed}

    def refund_customer(self, request: ActionRequest) -> Mapping[str, Any]:
        """``netsuite.customer_refund.create`` {payment, amount, currency, account, memo}: a
        customer refund of an unapplied payment, from the account the Stripe refund settles
        against."""
        params = request.params
        amount = params.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise errors.refused("params.amount must be a positive integer in minor units")
        account = self.adapter.account_by_number(_text(params, "account"))
        refund_id, replayed = self.adapter.refund_customer(
            _text(params, "payment"),
            Money(amount, _text(params, "currency")),
            str(account.number),
            memo=_text(params, "memo"),
            idempotency_key=request.idempotency_key,
        )
        return {"customer_refund": refund_id, "amount": amount, "replayed": replayed}

    def log_message(self, request: ActionRequest) -> Mapping[str, Any]:
        """``netsuite.customer.log_message`` {customer, sent_at, author, recipient, subject,
        summary|body[, cc, invoice]}: the email's entry on the customer timeline."""
        params = request.params
        customer = self.adapter.resolve_customer(_text(params, "customer"))
        try:
            sent_at = to_utc(datetime.fromisoformat(_text(params, "sent_at")))
        except ValueError as exc:
            raise errors.refused(f"params.sent_at: {exc}") from exc
        cc = params.get("cc") or []
        if isinstance(cc, str):
            cc = [cc]
        invoice_ref = _optional_text(params, "invoice")
        invoice = self.adapter.resolve_invoice(invoice_ref) if invoice_ref else None
        summary = _optional_text(params, "summary") or _text(params, "body")
        entry = TimelineEntry(
            customer_id=customer.id,
            sent_at=sent_at,
            author=_text(params, "author"),
            recipient=_text(params, "recipient"),
            subject=_text(params, "subject"),
            summary=summary,
            cc=tuple(str(address) for address in cc),
            invoice_id=invoice.id if invoice else None,
        )
        message_id, replayed = self.adapter.log_message(
            entry, idempotency_key=request.idempotency_key
        )
        return {"message": message_id, "customer": customer.id, "replayed": replayed}

    def create_customer_payment(self, request: ActionRequest) -> Mapping[str, Any]:
        """``netsuite.customer_payment.create`` {invoice, charge[, amount, currency, date]}: a
        Stripe charge as a customer payment in Undeposited Funds, dated ``date`` (ISO) or,
        without one, the day NetSuite records it; ``currency``, the amount's, must be the
        invoice's."""
        params = request.params
        amount = params.get("amount")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
            raise errors.refused(f"params.amount must be integer minor units, got {amount!r}")
        on = _optional_text(params, "date")
        try:
            day = date.fromisoformat(on) if on else None
        except ValueError as exc:
            raise errors.refused(f"params.date must be an ISO date, got {on!r}") from exc
        payment, replayed = self.adapter.record_payment(
            _text(params, "invoice"),
            stripe_charge_id=_text(params, "charge"),
            amount=amount,
            currency=_optional_text(params, "currency"),
            on=day,
            idempotency_key=request.idempotency_key,
        )
        return {
            "payment": payment.id,
            "invoices": list(payment.applied_invoices),
            "amount": payment.amount,
            "currency": payment.currency,
            "date": payment.date.isoformat(),
            "undeposited": payment.undeposited,
            "replayed": replayed,
        }
