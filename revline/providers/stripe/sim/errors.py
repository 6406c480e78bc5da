"""Stripe's error responses: ``{"error": {type, code?, decline_code?, message, param?, …}}``.

Status codes as Stripe uses them: 400/404 invalid request, 401 authentication, 402 card error,
429 rate limit, 500 API error.
"""

from __future__ import annotations

import json
from typing import Any

DOCS = "https://stripe.com/docs/error-codes"


class StripeApiError(Exception):
    """An error the simulated API answers with.

    ``saved`` says whether an idempotency key keeps this answer for replay: Stripe saves the
    result of a request that began executing (a card decline, a server error), not one refused
    while its parameters were validated.
    """

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        saved: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.saved = saved

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.error_type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/{self.code.replace('_', '-')}"
        if self.decline_code:
            error["decline_code"] = self.decline_code
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeApiError:
    """400 ``invalid_request_error``: the parameters were refused, nothing happened."""
    return StripeApiError(400, "invalid_request_error", message, code=code, param=param)


def missing(resource: str, object_id: str, param: str = "id") -> StripeApiError:
    """404 ``resource_missing``, Stripe's "No such invoice: 'in_…'"."""
    return StripeApiError(
        404,
        "invalid_request_error",
        f"No such {resource}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def fault_body(status: int) -> tuple[dict[str, str], bytes]:
    """What an injected fault answers: Stripe's 429 or 500 body (for ``FaultInjector``)."""
    if status == 429:
        error = StripeApiError(
            429,
            "invalid_request_error",
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    else:
        error = StripeApiError(
            status,
            "api_error",
            "An unknown error occurred. Please try again, or contact Stripe support.",
        )
    return {"content-type": "application/json"}, json.dumps(error.body()).encode()
