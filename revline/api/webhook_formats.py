"""What a signed webhook from each provider looks like: how to verify it and how to read it.

Pure functions over the raw body and headers; they raise the API's 400 errors. Everything a
stored row could choke on (NUL bytes, over-long ids, infinite numbers, absurd nesting) is refused
here, at the edge, so that no single delivery can fail the shared group commit of others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import stripe

from revline.api.errors import (
    InvalidEvent,
    InvalidSignature,
    MalformedJson,
    MissingSignature,
    StaleSignature,
)
from revline.core.inbox import SignedEvent
from revline.providers.ramp import webhooks as ramp_signature

# Column widths of events.external_id and events.type.
MAX_ID_LENGTH = 255
MAX_TYPE_LENGTH = 128
# Provider events nest about a dozen levels; far deeper input is an attack or a bug, and would
# hit the interpreter's recursion limit when the stored event is read back.
MAX_DEPTH = 100

ProviderName = Literal["stripe", "ramp"]


@dataclass(frozen=True)
class WebhookFormat:
    """One provider's webhook: the signature header and how to verify and read a delivery."""

    source: ProviderName
    signature_header: str
    verify: Callable[[bytes, str | None, Sequence[str], int], None]
    parse: Callable[[bytes], SignedEvent]


# -- Stripe ----------------------------------------------------------------------------------


def verify_stripe(body: bytes, header: str | None, secrets: Sequence[str], tolerance: int) -> None:
    """Accept if any configured secret verifies ``Stripe-Signature`` within ``tolerance`` seconds.

    Verification is the official SDK's. Two secrets are configured while one is being rotated.
    """
    if not header:
        raise MissingSignature("the Stripe-Signature header is missing")
    if not header.isascii():
        raise InvalidSignature("the Stripe-Signature header is not valid")
    payload = _utf8(body)
    for secret in secrets:
        if _stripe_verifies(payload, header, secret, tolerance):
            return
    # Tell an old-but-genuine signature (a replay, or a clock far off) from a wrong one.
    if any(_stripe_verifies(payload, header, secret, None) for secret in secrets):
        raise StaleSignature(f"the signature timestamp is more than {tolerance}s old")
    raise InvalidSignature("no configured secret matches the Stripe-Signature header")


def _stripe_verifies(payload: str, header: str, secret: str, tolerance: int | None) -> bool:
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
    except stripe.SignatureVerificationError:
        return False
    return True


def parse_stripe(body: bytes) -> SignedEvent:
    """A Stripe ``event`` object: ``object == "event"``, an ``evt_`` id, a type, a creation time
    and ``data.object``."""
    document = _json_object(body)
    if document.get("object") != "event":
        raise InvalidEvent('not a Stripe event: "object" is not "event"')
    event_id = document.get("id")
    if not (_clean_string(event_id, MAX_ID_LENGTH) and str(event_id).startswith("evt_")):
        raise InvalidEvent('the event has no valid "id" (a string starting with evt_)')
    event_type = _required_type(document)
    data = document.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise InvalidEvent('the event has no "data.object"')
    created = document.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise InvalidEvent('the event has no integer "created" timestamp')
    try:
        occurred_at = datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidEvent('the event\'s "created" timestamp is out of range') from exc
    return SignedEvent("stripe", str(event_id), event_type, occurred_at, body.decode())


# -- Ramp ------------------------------------------------------------------------------------


def verify_ramp(body: bytes, header: str | None, secrets: Sequence[str], _tolerance: int) -> None:
    """``X-Ramp-Webhook-Signature`` is the hex HMAC-SHA256 of the raw body.

    Ramp signs no timestamp, so there is no replay window to check; the inbox's uniqueness on the
    event id makes a replay a harmless duplicate.
    """
    if not header:
        raise MissingSignature("the X-Ramp-Webhook-Signature header is missing")
    if ramp_signature.verify(body, header, secrets):
        return
    raise InvalidSignature("no configured secret matches the X-Ramp-Webhook-Signature header")


def parse_ramp(body: bytes) -> SignedEvent:
    """``{id, type, created_at (ISO 8601), business_id, object: {id}}``."""
    document = _json_object(body)
    event_id = document.get("id")
    if not _clean_string(event_id, MAX_ID_LENGTH):
        raise InvalidEvent('the event has no valid "id"')
    event_type = _required_type(document)
    if not isinstance(document.get("business_id"), str):
        raise InvalidEvent('the event has no "business_id"')
    obj = document.get("object")
    if not isinstance(obj, dict) or not _clean_string(obj.get("id"), MAX_ID_LENGTH):
        raise InvalidEvent('the event has no "object.id"')
    created_at = document.get("created_at")
    try:
        occurred_at = datetime.fromisoformat(created_at) if isinstance(created_at, str) else None
    except ValueError:
        occurred_at = None
    if occurred_at is None:
        raise InvalidEvent('the event has no ISO 8601 "created_at"')
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)  # Ramp's API times are UTC
    try:
        # A time at the calendar's edge (year 1 east of UTC, 9999 west of it) has no UTC.
        in_utc = occurred_at.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidEvent(f'"created_at" {created_at} is out of range') from exc
    return SignedEvent("ramp", str(event_id), event_type, in_utc, body.decode())


STRIPE = WebhookFormat("stripe", "Stripe-Signature", verify_stripe, parse_stripe)
RAMP = WebhookFormat("ramp", "X-Ramp-Webhook-Signature", verify_ramp, parse_ramp)


# -- shared ----------------------------------------------------------------------------------


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJson("the body is not UTF-8") from exc


def _json_object(body: bytes) -> dict[str, Any]:
    # orjson refuses what must not reach storage: invalid UTF-8, lone surrogates, NaN and
    # Infinity, numbers that overflow a double. It parses several times faster than json, and the
    # parse is most of a delivery's own CPU.
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson("the body is not valid JSON") from exc
    if not isinstance(document, dict):
        raise InvalidEvent("the body is not a JSON object")
    # Nesting cannot exceed the number of opening brackets: counting them is far cheaper than
    # walking the document, and settles typical events without the walk.
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and _deeper_than(document, MAX_DEPTH):
        raise InvalidEvent(f"the body nests deeper than {MAX_DEPTH} levels")
    return document


def _deeper_than(document: dict[str, Any], limit: int) -> bool:
    stack: list[tuple[Mapping[str, Any] | list[Any], int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, Mapping) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _clean_string(value: object, max_length: int) -> bool:
    """A non-empty printable string that fits its column (no NUL or control characters)."""
    return isinstance(value, str) and 0 < len(value) <= max_length and value.isprintable()


def _required_type(document: Mapping[str, Any]) -> str:
    event_type = document.get("type")
    if not _clean_string(event_type, MAX_TYPE_LENGTH):
        raise InvalidEvent('the event has no valid "type"')
    return str(event_type)
