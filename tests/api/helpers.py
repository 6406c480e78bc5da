"""Helpers that sign webhooks the way Stripe and Ramp do (with the real clock, which the Stripe
SDK checks timestamps against) and read back what the inbox holds."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import stripe
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from revline.core.runtime import Runtime
from revline.db.models import Event
from tests.conftest import RAMP_SECRET, STRIPE_SECRET
from tests.support.playbooks import stripe_event

JSON = {"Content-Type": "application/json"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stripe_body(
    event_id: str, type_: str = "invoice.payment_failed", obj: dict[str, Any] | None = None
) -> bytes:
    obj = obj if obj is not None else {"id": f"in_{event_id}", "customer": "cus_1"}
    return json.dumps(stripe_event(event_id, type_, obj)).encode()


def stripe_header(body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    """``Stripe-Signature`` from the SDK's own test helper."""
    return str(
        stripe.WebhookSignature.generate_signature_header(
            body.decode(), secret, timestamp=int(time.time()) if timestamp is None else timestamp
        )
    )


def stripe_header_raw(
    body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None
) -> str:
    """The same header built by hand as Stripe documents it, over raw bytes (any body)."""
    t = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={signature}"


def post_stripe(
    client: TestClient,
    body: bytes,
    *,
    secret: str = STRIPE_SECRET,
    headers: dict[str, str] | None = None,
) -> Any:
    sent = {**JSON, "Stripe-Signature": stripe_header(body, secret), **(headers or {})}
    return client.post("/webhooks/stripe", content=body, headers=sent)


def ramp_body(event_id: str, type_: str = "transactions.cleared", **fields: Any) -> bytes:
    document: dict[str, Any] = {
        "id": event_id,
        "type": type_,
        "created_at": "2026-12-01T14:00:00+00:00",
        "business_id": "biz_1",
        "object": {"id": f"txn_{event_id}"},
    }
    document.update(fields)
    return json.dumps(document).encode()


def ramp_signature(body: bytes, secret: str = RAMP_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_ramp(client: TestClient, body: bytes, *, secret: str = RAMP_SECRET) -> Any:
    headers = {**JSON, "X-Ramp-Webhook-Signature": ramp_signature(body, secret)}
    return client.post("/webhooks/ramp", content=body, headers=headers)


def stored_ids(runtime: Runtime, source: str = "stripe") -> set[str]:
    with runtime.db.read() as session:
        return set(
            session.execute(select(Event.external_id).where(Event.source == source)).scalars()
        )


def event_count(runtime: Runtime) -> int:
    with runtime.db.read() as session:
        return int(session.execute(select(func.count()).select_from(Event)).scalar_one())


def deliver(
    client: TestClient, event_id: str, type_: str, obj: dict[str, Any], *, status: int = 202
) -> None:
    """Post a signed Stripe event and check it was stored."""
    response = post_stripe(client, stripe_body(event_id, type_, obj))
    assert response.status_code == status, response.text


def asgi_post(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], receive: Any
) -> list[dict[str, Any]]:
    """Call the ASGI app directly with a hand-made ``receive`` (for what HTTP clients cannot
    express: a lying Content-Length, a hang-up mid-body). Returns the messages it sent."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    return sent
