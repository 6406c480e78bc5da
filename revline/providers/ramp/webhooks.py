"""Ramp webhook signatures: ``X-Ramp-Webhook-Signature`` is the hex HMAC-SHA256 of the raw body.

The exact format is unverified against Ramp (see ``docs/providers/ramp.md``); this module is
the one definition the simulator signs with. The API's ingest (``revline.api.webhook_formats.
verify_ramp``) implements the same rule — compare bytes, any configured secret, case-insensitive
hex — and the tests check that what the simulator signs, the API accepts.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "X-Ramp-Webhook-Signature"


def sign(body: bytes, secret: str) -> str:
    """The signature Ramp puts on ``body``: lower-case hex HMAC-SHA256 keyed by the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_headers(body: bytes, secret: str) -> dict[str, str]:
    """The header a signed delivery carries."""
    return {SIGNATURE_HEADER: sign(body, secret)}


def verify(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """True if any secret (current or previous, during a rotation) signed ``body``.

    Constant-time per secret. Bytes are compared, not text: ``compare_digest`` refuses
    non-ASCII strings and a header may carry any byte.
    """
    if not header:
        return False
    given = header.strip().lower().encode("latin-1", errors="replace")
    # An empty key is no secret: anyone can sign with it.
    return any(
        hmac.compare_digest(sign(body, secret).encode(), given) for secret in secrets if secret
    )
