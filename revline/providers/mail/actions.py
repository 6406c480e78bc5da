"""The ``email.send`` action kind, over ``MailAdapter``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revline.providers.base import ActionRequest, Handlers, ProviderError
from revline.providers.mail.client import PROVIDER, MailAdapter, Mailbox, OutgoingEmail


def register(handlers: Handlers, adapter: MailAdapter) -> None:
    """Register ``email.send``."""
    handlers.register("email.send", lambda request: send_email(adapter, request))


def send_email(adapter: MailAdapter, request: ActionRequest) -> Mapping[str, Any]:
    """Params ``from`` ({name, email}), ``to`` and optional ``cc`` (lists of {name, email} or
    plain addresses), ``subject``, ``body``, optional ``customer`` (echoed for the report).

    Returns ``{message_id, sent_at, from, to, cc, subject}`` with addresses as they appear in
    the headers (``Dana Reyes <dana.reyes@acme.example>``).
    """
    params = request.params
    email = OutgoingEmail(
        sender=_mailbox(request, params.get("from"), "from"),
        to=_mailboxes(request, "to", required=True),
        cc=_mailboxes(request, "cc", required=False),
        subject=_text(request, "subject"),
        body=_text(request, "body"),
    )
    sent = adapter.send(email, request.idempotency_key)
    result: dict[str, Any] = {
        "message_id": sent.message_id,
        "sent_at": sent.sent_at.isoformat(),
        "from": str(sent.sender),
        "to": [str(mailbox) for mailbox in sent.to],
        "cc": [str(mailbox) for mailbox in sent.cc],
        "subject": sent.subject,
    }
    customer = params.get("customer")
    if customer is not None:
        result["customer"] = customer
    return result


def _invalid(request: ActionRequest, problem: str) -> ProviderError:
    return ProviderError(
        f"{request.kind}: {problem}",
        retryable=False,
        provider=PROVIDER,
        provider_code="invalid_params",
    )


def _mailbox(request: ActionRequest, value: Any, name: str) -> Mailbox:
    if not isinstance(value, str | Mapping):
        raise _invalid(request, f"params.{name} must be an address or {{name, email}}")
    try:
        return Mailbox.of(value)
    except ValueError as exc:
        raise _invalid(request, f"params.{name}: {exc}") from exc


def _mailboxes(request: ActionRequest, name: str, *, required: bool) -> tuple[Mailbox, ...]:
    values = request.params.get(name)
    if values is None and not required:
        return ()
    if not isinstance(values, list) or (required and not values):
        raise _invalid(request, f"params.{name} must be a non-empty list of addresses")
    return tuple(_mailbox(request, value, name) for value in values)


def _text(request: ActionRequest, name: str) -> str:
    value = request.params.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(request, f"params.{name} must be a non-empty string")
    return value
