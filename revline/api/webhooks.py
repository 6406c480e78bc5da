"""``POST /webhooks/stripe`` and ``POST /webhooks/ramp``: verify, store durably, acknowledge.

A request does nothing else: no routing, no provider calls. Checks run cheapest first (content
type, declared length), then the body is read with the size limit enforced as it streams, the
signature is verified over the raw bytes, and the event is handed to the group-commit writer.
The answer is 202 for a new event and 200 for a redelivery, both only after the commit.
"""

from __future__ import annotations

import time
from typing import Any, cast

from fastapi import FastAPI, Request, Response
from starlette.requests import ClientDisconnect

from revline.api.errors import (
    ClientDisconnected,
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

# Label children bound once: a labels() lookup per delivery is measurable at this rate.
_ACCEPTED = {f.source: WEBHOOKS.labels(f.source, "accepted") for f in (STRIPE, RAMP)}
_DUPLICATES = {f.source: WEBHOOKS.labels(f.source, "duplicate") for f in (STRIPE, RAMP)}
_INGEST_SECONDS = {f.source: INGEST_SECONDS.labels(f.source) for f in (STRIPE, RAMP)}

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


def _openapi(fmt: WebhookFormat, description: str) -> dict[str, Any]:
    # The handler reads the raw bytes and the header itself (the signature is over the bytes, and
    # skipping FastAPI's parameter parsing keeps the hot path short), so describe both by hand.
    return {
        "parameters": [
            {
                "name": fmt.signature_header,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "the provider's signature of the raw body",
            }
        ],
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    }


async def stripe_webhook(request: Request) -> Response:
    """Verify ``Stripe-Signature`` (current or previous secret) and store the event once."""
    return await _receive(request, STRIPE)


async def ramp_webhook(request: Request) -> Response:
    """Verify ``X-Ramp-Webhook-Signature`` (current or previous secret) and store the event once."""
    return await _receive(request, RAMP)


def install(app: FastAPI) -> None:
    """Add both endpoints to ``app`` itself, ahead of every other route. An included router is
    matched through FastAPI's router wrapper on each request; on this path that was about a
    tenth of a delivery's CPU (``bench/webhook_ingest.py``)."""
    for fmt, endpoint, summary, description in (
        (
            STRIPE,
            stripe_webhook,
            "Receive a Stripe event",
            "A Stripe event object, exactly as Stripe signed it.",
        ),
        (
            RAMP,
            ramp_webhook,
            "Receive a Ramp event",
            "A Ramp webhook event, exactly as Ramp signed it.",
        ),
    ):
        app.add_api_route(
            f"/webhooks/{fmt.source}",
            endpoint,
            methods=["POST"],
            status_code=202,
            response_model=WebhookAck,
            responses={**_DUPLICATE, **_ERRORS},
            summary=summary,
            tags=["webhooks"],
            openapi_extra=_openapi(fmt, description),
        )


async def _receive(request: Request, fmt: WebhookFormat) -> Response:
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
        signature = request.headers.get(fmt.signature_header)
        fmt.verify(body, signature, secrets, settings.webhook_tolerance_seconds)
        event = fmt.parse(body)
        new = await writer.submit(event, len(body))
    except RevlineError as exc:
        WEBHOOKS.labels(fmt.source, exc.code).inc()
        raise
    _INGEST_SECONDS[fmt.source].observe(time.perf_counter() - started)
    if new:
        _ACCEPTED[fmt.source].inc()
        return Response(_ACK_NEW, status_code=202, media_type="application/json")
    _DUPLICATES[fmt.source].inc()
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
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect as exc:
        # A sender's hang-up is routine, not an internal error worth a stack trace.
        raise ClientDisconnected("the client disconnected before sending the whole body") from exc
    return b"".join(chunks)
