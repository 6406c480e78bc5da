"""Helpers to put events in the inbox the way ingest does."""

from __future__ import annotations

from datetime import UTC, datetime

from revline.core import inbox
from revline.core.runtime import Runtime
from tests.support.playbooks import stripe_event


def deliver(
    runtime: Runtime,
    event_id: str,
    type_: str,
    obj: dict[str, object],
    *,
    created: datetime | None = None,
) -> bool:
    """Store a Stripe-shaped event; returns whether it was new."""
    when = created or runtime.clock.now()
    body = stripe_event(event_id, type_, obj, int(when.timestamp()))
    with runtime.db.write() as session:
        [new] = inbox.record(
            session,
            [inbox.IncomingEvent("stripe", event_id, type_, when.astimezone(UTC), body)],
            runtime.clock.now(),
        )
    return new
