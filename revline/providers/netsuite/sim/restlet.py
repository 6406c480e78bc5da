"""Revline's RESTlet, as deployed in the account (its SuiteScript is in docs/providers/netsuite.md).

One POST entry point, ``{"action", "idempotency_key", …}``, for what REST cannot do: ``void``
(``transaction.void``, optionally taking customer payments off the invoice first),
``revenue_hold`` / ``revenue_release`` (the revenue plans' Hold Revenue Recognition box and
Revline's hold reason), ``revenue_exit`` (an invoice's revenue plans removed),
``customer_refund`` (a customer refund record against an unapplied payment) and ``log_message``
(a message on the customer's timeline). A RESTlet sees only the body, not headers, so the key
is in the body. The script keeps a ``customrecord_revline_idempotency`` row per key with a hash
of the request and the result: the same key again replays the result, the same key with another
request is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from revline.providers.netsuite.sim.books import BooksError, NetSuiteBooks

SCRIPT_ID = "1729"
DEPLOY_ID = "1"


class RestletError(Exception):
    """What the script throws: NetSuite answers 400 with ``{"error": {"code", "message"}}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _id(payload: Mapping[str, Any], key: str) -> str:
    raw = str(payload.get(key, ""))
    if not raw.isdigit():
        raise RestletError("REVLINE_BAD_REQUEST", f"{key} must be an internal id")
    return raw


def _text(payload: Mapping[str, Any], key: str) -> str:
    raw = payload.get(key)
    if not isinstance(raw, str) or not raw:
        raise RestletError("REVLINE_BAD_REQUEST", f"{key} must be a non-empty string")
    return raw


class Restlet:
    """The script's actions over the account's books."""

    def __init__(self, books: NetSuiteBooks) -> None:
        self.books = books
        self._actions: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "void": self._void,
            "revenue_hold": self._hold,
            "revenue_release": self._release,
            "revenue_exit": self._exit,
            "customer_refund": self._customer_refund,
            "log_message": self._log_message,
        }

    def post(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise RestletError("REVLINE_BAD_REQUEST", "the body must be a JSON object")
        action = body.get("action")
        key = body.get("idempotency_key")
        if action not in self._actions:
            raise RestletError("REVLINE_BAD_REQUEST", f"unknown action {action!r}")
        if not isinstance(key, str) or not key:
            raise RestletError("REVLINE_BAD_REQUEST", "idempotency_key is required")
        payload = {k: v for k, v in body.items() if k not in ("action", "idempotency_key")}
        fingerprint = hashlib.sha256(
            json.dumps({"action": action, **payload}, sort_keys=True, default=str).encode()
        ).hexdigest()
        # The lock spans lookup, action and record, as the script's single execution would.
        with self.books.lock:
            earlier = self.books.row(
                "SELECT * FROM customrecord_revline_idempotency WHERE name = ?", (key,)
            )
            if earlier is not None:
                if earlier["custrecord_revline_request_hash"] != fingerprint:
                    raise RestletError(
                        "REVLINE_IDEMPOTENCY_CONFLICT",
                        f"idempotency key {key} was used for a different request",
                    )
                result = json.loads(earlier["custrecord_revline_result"])
                return {"ok": True, "action": action, "replayed": True, "result": result}
            try:
                result = self._actions[action](payload)
            except BooksError as exc:
                raise RestletError(exc.code, exc.message) from exc
            with self.books.write() as db:
                db.execute(
                    "INSERT INTO customrecord_revline_idempotency (name, custrecord_revline_action,"
                    " custrecord_revline_request_hash, custrecord_revline_result, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key, action, fingerprint, json.dumps(result), self.books.now_text()),
                )
        return {"ok": True, "action": action, "replayed": False, "result": result}

    def _void(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        if payload.get("type") != "invoice":
            raise RestletError("REVLINE_BAD_REQUEST", "only invoices are voided by Revline")
        invoice_id = _id(payload, "id")
        unapply = payload.get("unapply_payments", False)
        if not isinstance(unapply, bool):
            raise RestletError("REVLINE_BAD_REQUEST", "unapply_payments must be true or false")
        already, unapplied = self.books.void_invoice(invoice_id, unapply_payments=unapply)
        return {
            "type": "invoice",
            "id": invoice_id,
            "voided": True,
            "already_voided": already,
            "unapplied_payments": unapplied,
        }

    def _exit(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        invoice_id, reason = _id(payload, "invoice"), _text(payload, "reason")
        removed = self.books.exit_revenue(invoice_id)
        return {"invoice": invoice_id, "reason": reason, "removed_plans": removed}

    def _customer_refund(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        payment = _id(payload, "payment")
        currency = self.books.transaction(payment, "CustPymt")["currency"]
        try:
            amount = self.books.minor(_text(payload, "amount"), currency)
        except ArithmeticError as exc:
            raise RestletError("REVLINE_BAD_REQUEST", "amount must be a decimal string") from exc
        except ValueError as exc:  # a fraction of a minor unit (1.005 USD)
            raise RestletError("REVLINE_BAD_REQUEST", f"amount: {exc}") from exc
        memo = payload.get("memo")
        refund_id = self.books.refund_customer(
            payment,
            amount,
            _text(payload, "account"),
            memo=memo if isinstance(memo, str) else None,
        )
        return {"id": refund_id}

    def _hold(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        customer, reason = _id(payload, "customer"), _text(payload, "reason")
        changed, unchanged = self.books.hold_revenue(customer, reason)
        return {"customer": customer, "reason": reason, "changed": changed, "unchanged": unchanged}

    def _release(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        customer, reason = _id(payload, "customer"), _text(payload, "reason")
        changed, unchanged = self.books.release_revenue(customer, reason)
        return {"customer": customer, "reason": reason, "changed": changed, "unchanged": unchanged}

    def _log_message(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        try:
            sent_at = datetime.fromisoformat(_text(payload, "sent_at")).astimezone(UTC)
        except ValueError as exc:
            raise RestletError("REVLINE_BAD_REQUEST", f"sent_at: {exc}") from exc
        cc = payload.get("cc") or []
        if not isinstance(cc, list) or not all(isinstance(address, str) for address in cc):
            raise RestletError("REVLINE_BAD_REQUEST", "cc must be a list of addresses")
        message_id = self.books.log_message(
            _id(payload, "customer"),
            sent_at=sent_at,
            author=_text(payload, "author"),
            recipient=_text(payload, "recipient"),
            subject=_text(payload, "subject"),
            message=_text(payload, "message"),
            cc=cc,
            invoice_id=_id(payload, "invoice") if payload.get("invoice") else None,
        )
        return {"id": message_id}
