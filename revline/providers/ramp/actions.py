"""The Ramp action kinds the executor runs, each a thin handler over ``RampAdapter``.

Each handler validates its parameters (a bad parameter is a ``ProviderError`` that is not
retryable: the action goes to the manual queue, it is never retried into a different result),
passes the action's idempotency key through, and returns a JSON-ready confirmation that the
executor stores as the action's result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revline.providers.base import ActionRequest, Handlers, ProviderError
from revline.providers.ramp.client import CARD_INTERVALS, PROVIDER, RampAdapter
from revline.providers.ramp.records import ReviewDecision, Transaction


def register(handlers: Handlers, adapter: RampAdapter) -> None:
    """Register ``ramp.transaction.approve|reject``, ``ramp.card.create``, ``ramp.memo.create``."""
    handlers.register("ramp.transaction.approve", lambda r: approve_transaction(adapter, r))
    handlers.register("ramp.transaction.reject", lambda r: reject_transaction(adapter, r))
    handlers.register("ramp.card.create", lambda r: create_card(adapter, r))
    handlers.register("ramp.memo.create", lambda r: create_memo(adapter, r))


def approve_transaction(adapter: RampAdapter, request: ActionRequest) -> Mapping[str, Any]:
    """Params ``transaction``, ``gl_code``: code the transaction and approve it."""
    transaction_id = _text(request, "transaction")
    gl_code = _text(request, "gl_code")
    transaction = adapter.review_transaction(
        transaction_id, ReviewDecision.APPROVE, gl_code, None, request.idempotency_key
    )
    return _decision(transaction, ReviewDecision.APPROVE)


def reject_transaction(adapter: RampAdapter, request: ActionRequest) -> Mapping[str, Any]:
    """Params ``transaction``, ``reason``, optional ``comment``: reject, then post the comment.

    The comment (asking the cardholder, kindly, to retake the photo with the line items
    visible) is written as the transaction's memo, where the cardholder sees it; Ramp's API
    has no separate comment thread. It goes out after the rejection, under its own derived
    idempotency key, so a retry neither rejects twice nor posts twice.
    """
    transaction_id = _text(request, "transaction")
    reason = _text(request, "reason")
    comment = _optional_text(request, "comment")
    transaction = adapter.review_transaction(
        transaction_id, ReviewDecision.REJECT, None, reason, request.idempotency_key
    )
    result = dict(_decision(transaction, ReviewDecision.REJECT))
    result["reason"] = reason
    if comment is not None:
        adapter.create_memo(transaction_id, comment, f"{request.idempotency_key}:memo")
    result["comment_posted"] = comment is not None
    return result


def create_card(adapter: RampAdapter, request: ActionRequest) -> Mapping[str, Any]:
    """Params ``user``, ``vendor`` (name), ``limit`` (minor units), ``interval``, ``gl_code``,
    ``display_name``: a virtual card locked to the vendor; waits for Ramp to issue it."""
    user_id = _text(request, "user")
    vendor_name = _text(request, "vendor")
    limit = _minor_units(request, "limit")
    interval = _text(request, "interval").upper()
    if interval not in CARD_INTERVALS:
        raise _invalid(request, f"interval must be one of {', '.join(sorted(CARD_INTERVALS))}")
    gl_code = _text(request, "gl_code")
    display_name = _text(request, "display_name")
    vendor = adapter.find_vendor(vendor_name)
    if vendor is None:
        raise ProviderError(
            f"Ramp has no vendor named {vendor_name!r}: the card cannot be locked to it",
            retryable=False,
            provider=PROVIDER,
            provider_code="vendor_not_found",
        )
    gl_account = adapter.gl_account_by_code(gl_code)
    task_id = adapter.create_virtual_card(
        user_id=user_id,
        display_name=display_name,
        limit=limit,
        interval=interval,
        vendor_ids=[vendor.id],
        gl_account_id=gl_account.id,
        idempotency_key=request.idempotency_key,
    )
    task = adapter.wait_for_card_task(task_id)
    return {
        "card_id": task.card_id,
        "task_id": task.id,
        "user": user_id,
        "display_name": display_name,
        "limit": limit,
        "currency": adapter.currency,
        "interval": interval,
        "vendor": vendor.name,
        "vendor_id": vendor.id,
        "gl_code": gl_account.code,
    }


def create_memo(adapter: RampAdapter, request: ActionRequest) -> Mapping[str, Any]:
    """Params ``transaction``, ``memo``."""
    memo = adapter.create_memo(
        _text(request, "transaction"), _text(request, "memo"), request.idempotency_key
    )
    return {"transaction": memo.transaction_id, "memo": memo.memo}


def _decision(transaction: Transaction, decision: ReviewDecision) -> Mapping[str, Any]:
    return {
        "transaction": transaction.id,
        "decision": decision.value,
        "approval_status": transaction.approval_status,
        "gl_code": transaction.gl_code,
        "amount": transaction.amount,
        "currency": transaction.currency,
    }


def _invalid(request: ActionRequest, problem: str) -> ProviderError:
    return ProviderError(
        f"{request.kind}: {problem}",
        retryable=False,
        provider=PROVIDER,
        provider_code="invalid_params",
    )


def _text(request: ActionRequest, name: str) -> str:
    value = request.params.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(request, f"params.{name} must be a non-empty string")
    return value


def _optional_text(request: ActionRequest, name: str) -> str | None:
    return None if request.params.get(name) is None else _text(request, name)


def _minor_units(request: ActionRequest, name: str) -> int:
    value = request.params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _invalid(request, f"params.{name} must be a positive integer of minor units")
    return value
