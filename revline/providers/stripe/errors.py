"""Stripe's errors as Revline's: one ``ProviderError``, retryable or not, with Stripe's codes kept.

Retryable: connection failures, 409 (a conflicting concurrent request), 429 and 5xx, unless
Stripe says otherwise with ``Stripe-Should-Retry``. Everything else (400, 401, 402, 403, 404)
needs a person: trying again with the same request cannot succeed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from revline.providers.base import ProviderError

PROVIDER = "stripe"


class StripeRequestError(ProviderError):
    """A Stripe request that did not confirm its effect, with Stripe's own account of why."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None,
        provider_code: str | None = None,
        error_type: str | None = None,
        decline_code: str | None = None,
        request_id: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message,
            retryable=retryable,
            provider=PROVIDER,
            status=status,
            provider_code=provider_code,
        )
        self.error_type = error_type
        self.decline_code = decline_code
        self.request_id = request_id
        self.body: Mapping[str, Any] = body or {}


def error_body(exc: stripe.StripeError) -> dict[str, Any]:
    """The ``error`` object of Stripe's response, or nothing when there was no response."""
    document = exc.json_body
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        return dict(document["error"])
    return {}


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def is_retryable(exc: stripe.StripeError) -> bool:
    """Connection errors, 409, 429, 5xx, or whatever ``Stripe-Should-Retry`` says."""
    if isinstance(exc, stripe.APIConnectionError):
        return True
    advice = _header(exc.headers, "stripe-should-retry")
    if advice in ("true", "false"):
        return advice == "true"
    status = exc.http_status
    if status is None:
        return False
    return status in (409, 429) or status >= 500


def translate(exc: stripe.StripeError) -> StripeRequestError:
    """Stripe's exception as a ``StripeRequestError``: the message, code and decline code kept."""
    body = error_body(exc)
    code = body.get("code") or exc.code
    message = str(body.get("message") or exc.user_message or type(exc).__name__)
    return StripeRequestError(
        message,
        retryable=is_retryable(exc),
        status=exc.http_status,
        provider_code=str(code) if code else None,
        error_type=str(body["type"]) if body.get("type") else None,
        decline_code=str(body["decline_code"]) if body.get("decline_code") else None,
        request_id=exc.request_id,
        body=body,
    )
