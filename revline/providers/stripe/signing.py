"""``Stripe-Signature`` as Stripe computes it, for the simulator's webhooks.

``t=<unix>,v1=<hex>``: HMAC-SHA256 of ``f"{t}.{body}"`` with the endpoint's ``whsec_`` secret,
built by the SDK's own helper. The timestamp is the real wall-clock time of the delivery, never
the simulated clock: receivers check it against their own clock with a 300 s tolerance.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import stripe


def signature_header(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header for one delivery of ``body``; ``timestamp`` defaults to now (wall clock)."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode("utf-8"), secret, timestamp=signed_at
    )
    return str(header)


def signer(secret: str) -> Callable[[bytes], dict[str, str]]:
    """A ``WebhookDispatcher`` signer: signs each delivery attempt afresh, as Stripe does."""

    def sign(body: bytes) -> dict[str, str]:
        return {"Stripe-Signature": signature_header(body, secret)}

    return sign
