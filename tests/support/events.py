"""Helpers to put events in the inbox the way ingest does."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from revline.core import inbox
from revline.core.inbox import EventView
from revline.core.runtime import Runtime
from revline.playbooks.cash.flags import FINDING_SOURCE
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


def finding(
    event_type: str, external_id: str, at: datetime, payload: Mapping[str, Any]
) -> EventView:
    """A finding one playbook hands another (the payout reconciliation's flags), as the case it
    opens sees it."""
    return EventView(
        id=1,
        source=FINDING_SOURCE,
        external_id=external_id,
        type=event_type,
        occurred_at=at,
        received_at=at,
        payload=dict(payload),
    )
