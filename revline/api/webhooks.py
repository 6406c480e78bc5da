"""``POST /webhooks/stripe`` and ``POST /webhooks/ramp``: verify, store durably, acknowledge.

A request does nothing else: no routing, no provider calls. Checks run cheapest first (content
type, declared length), then the body is read with the size limit enforced as it streams, the
signature is verified over the raw bytes, and the event is handed to the group-commit writer.
The answer is 202 for a new event and 200 for a redelivery, both only after the commit.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Request, Response

from revline.api.errors import (
    ErrorBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    WebhookNotConfigured,
)
from revline.api.ingest import IngestWriter
from revline.api.schemas import WebhookAck
from revline.api.webhook_formats import RAMP, STRIPE, WebhookFormat
from revline.core.metrics import INGEST_SECONDS, WEBHOOKS
from revline.core.runtime import Runtime
from revline.errors import InvalidRequest, RevlineError

router = APIRouter(tags=["webhooks"])

# Precomputed: the acknowledgement is on the hot path of every delivery.
_ACK_NEW = b'{"received":true,"duplicate":false}'
_ACK_DUPLICATE = b'{"received":true,"duplicate":true}'

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "missing, invalid or stale signature; malformed JSON; not an event"),
        (413, "body larger than webhook_max_bytes"),
        (415, "Content-Type is not application/json"),
        (503, "no secret configured for this provider, or the event could not be stored"),
    )
}
_DUPLICATE: dict[int | str, dict[str, Any]] = {
    200: {"model": WebhookAck, "description": "a redelivery of an event already stored"}
}


def _openapi_body(description: str) -> dict[str, Any]:
    # The handler reads the raw bytes (signatures are over them), so describe the body by hand.
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }


@router.post(
    "/webhooks/stripe",
    status_code=202,
    response_model=WebhookAck,
    responses={**_DUPLICATE, **_ERRORS},
    summary="Receive a Stripe event",
    openapi_extra=_openapi_body("A Stripe event object, exactly as Stripe signed it."),
)
async def stripe_webhook(
    request: Request,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> Response:
    """Verify ``Stripe-Signature`` (current or previous secret) and store the event once."""
    return await _receive(request, STRIPE, stripe_signature)


@router.post(
    "/webhooks/ramp",
    status_code=202,
    response_model=WebhookAck,
    responses={**_DUPLICATE, **_ERRORS},
    summary="Receive a Ramp event",
    openapi_extra=_openapi_body("A Ramp webhook event, exactly as Ramp signed it."),
)
async def ramp_webhook(
    request: Request,
    ramp_signature: Annotated[str | None, Header(alias="X-Ramp-Webhook-Signature")] = None,
) -> Response:
    """Verify ``X-Ramp-Webhook-Signature`` (current or previous secret) and store the event once."""
    return await _receive(request, RAMP, ramp_signature)


async def _receive(request: Request, fmt: WebhookFormat, signature: str | None) -> Response:
    started = time.perf_counter()
    runtime = cast(Runtime, request.app.state.runtime)
    writer = cast(IngestWriter, request.app.state.ingest)
    settings = runtime.settings
    try:
        secrets = settings.webhook_secrets(fmt.source)
        if not secrets:
            raise WebhookNotConfigured(
                f"no {fmt.source} webhook secret is configured; unsigned events are never accepted"
            )
        check_content_type(request.headers.get("content-type"))
        body = await read_body(request, settings.webhook_max_bytes)
        fmt.verify(body, signature, secrets, settings.webhook_tolerance_seconds)
        event = fmt.parse(body)
        new = await writer.submit(event, len(body))
    except RevlineError as exc:
        WEBHOOKS.labels(fmt.source, exc.code).inc()
        raise
    WEBHOOKS.labels(fmt.source, "accepted" if new else "duplicate").inc()
    INGEST_SECONDS.labels(fmt.source).observe(time.perf_counter() - started)
    if new:
        return Response(_ACK_NEW, status_code=202, media_type="application/json")
    return Response(_ACK_DUPLICATE, status_code=200, media_type="application/json")


def check_content_type(value: str | None) -> None:
    """``application/json``, optionally with ``charset=utf-8`` (JSON is UTF-8 by definition)."""
    media_type, _, parameters = (value or "").partition(";")
    if media_type.strip().lower() != "application/json":
        raise UnsupportedMediaType("webhooks must be sent as application/json")
    for parameter in parameters.split(";"):
        name, _, charset = parameter.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise UnsupportedMediaType("webhooks must be UTF-8 encoded")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed ``limit`` bytes.

    ``Content-Length`` is checked before reading anything; a chunked upload has none, so the
    limit is also enforced while the body streams in, without buffering past it.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        digits = declared.strip()
        if not (digits.isascii() and digits.isdigit()):
            raise InvalidRequest("Content-Length is not a number")
        # Length first: int() of thousands of digits is itself a cost an attacker would choose.
        if len(digits) > len(str(limit)) or int(digits) > limit:
            raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
