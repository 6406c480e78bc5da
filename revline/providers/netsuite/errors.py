"""NetSuite's error bodies as Revline's ``ProviderError``.

REST web services answer ``{"type", "title", "status", "o:errorDetails": [{"detail",
"o:errorCode", "o:errorPath"}]}``; RESTlets answer ``{"error": {"code", "message"}}``; the OAuth
2.0 token endpoint answers ``{"error": "invalid_client"}``. The first error code becomes
``provider_code``. Past the account's concurrency limit REST says 429 and RESTlets say 400 with
``SSS_REQUEST_LIMIT_EXCEEDED``: both are retryable, like 409 and 5xx. 401 (``INVALID_LOGIN``) is
not: new credentials need a person.
"""

from __future__ import annotations

from json import JSONDecodeError
from typing import Any

import httpx

from revline.providers.base import ProviderError

PROVIDER = "netsuite"
LIMIT_CODES = frozenset({"SSS_REQUEST_LIMIT_EXCEEDED"})


def _details(body: Any) -> tuple[str | None, str]:
    if not isinstance(body, dict):
        return None, ""
    details = body.get("o:errorDetails")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        first = details[0]
        path = first.get("o:errorPath")
        detail = str(first.get("detail", body.get("title", "")))
        return first.get("o:errorCode"), f"{detail} (at {path})" if path else detail
    error = body.get("error")
    if isinstance(error, dict):
        return error.get("code"), str(error.get("message", ""))
    if isinstance(error, str):
        return error, str(body.get("error_description", ""))
    return None, str(body.get("title", ""))


def from_response(response: httpx.Response, context: str) -> ProviderError:
    """The error a failed NetSuite response stands for."""
    try:
        body = response.json()
    except (JSONDecodeError, UnicodeDecodeError):
        body = None
    code, detail = _details(body)
    status = response.status_code
    retryable = status != 401 and (
        status in (409, 429) or status >= 500 or (code is not None and code in LIMIT_CODES)
    )
    label = f" {code}" if code else ""
    message = f"NetSuite {context}: {status}{label}: {detail or response.reason_phrase}"
    return ProviderError(
        message, retryable=retryable, provider=PROVIDER, status=status, provider_code=code
    )


def is_limit_exceeded(error: ProviderError) -> bool:
    """Whether NetSuite refused because the account's concurrency limit was reached."""
    return error.status == 429 or error.provider_code in LIMIT_CODES


def refused(message: str, code: str = "invalid_request") -> ProviderError:
    """A request Revline will not send (bad parameters, a total that does not tie)."""
    return ProviderError(message, retryable=False, provider=PROVIDER, provider_code=code)


def unavailable(message: str) -> ProviderError:
    """NetSuite could not be reached; trying again later may work."""
    return ProviderError(message, retryable=True, provider=PROVIDER)
