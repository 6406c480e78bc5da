"""The Stripe events catch-up: what webhooks missed, read from Stripe's events list.

Webhooks can be lost (downtime, a delivery Stripe gave up on). Every so often the catch-up lists
the events newer than its checkpoint, oldest first, and records them in the inbox exactly as a
webhook would have; events the webhooks did bring are duplicates the inbox absorbs. The
checkpoint (the newest event seen: ``{"created", "id"}``) is a control row,
``checkpoint:stripe.events``, written in the same transaction as the events it covers, so a crash
never skips an event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from revline.core import controls, inbox
from revline.core.scheduler import Every
from revline.db.engine import Database
from revline.db.models import Control
from revline.providers.base import ProviderError
from revline.providers.stripe.client import StripeAdapter
from revline.providers.stripe.errors import StripeRequestError
from revline.providers.stripe.records import Event

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint:stripe.events"
ACTOR = "stripe_catch_up"
BATCH = 100


@dataclass
class StripeCatchUp:
    """Records the Stripe events newer than the checkpoint; ``run`` returns how many were new.

    ``types`` limits the events read (None: all). With no checkpoint yet, it starts
    ``first_run_lookback`` back: Stripe retries a webhook for three days, so anything older was
    delivered or given up on long ago.
    """

    adapter: StripeAdapter
    db: Database
    types: list[str] | None = None
    first_run_lookback: timedelta = timedelta(days=3)

    def run(self, now: datetime) -> int:
        """One pass. A Stripe failure is logged and left to the next pass, which starts again
        from the same checkpoint."""
        try:
            events = self._events_after_checkpoint(now)
        except ProviderError as exc:
            level = logging.WARNING if exc.retryable else logging.ERROR
            log.log(level, "Stripe events catch-up failed: %s", exc.message)
            return 0
        new = 0
        # On PostgreSQL one event per transaction: the webhook writer inserts its batches in key
        # order, these go in oldest first (the order they are then routed in), and a
        # transaction holding one event's index entry while it waits for another's could wait
        # for a writer waiting for it (a deadlock, one side aborted). SQLite's writers are
        # serialised whole, and batch.
        size = 1 if self.db.is_postgres else BATCH
        for start in range(0, len(events), size):
            batch = events[start : start + size]
            with self.db.write() as session:
                recorded = inbox.record(session, [_incoming(e) for e in batch], now)
                newest = batch[-1]
                controls.put(
                    session,
                    CHECKPOINT,
                    {"created": int(newest.created.timestamp()), "id": newest.id},
                    ACTOR,
                    now,
                )
            new += sum(recorded)
        return new

    def job(self, interval: timedelta = timedelta(minutes=5)) -> Every:
        """This catch-up as a scheduler job."""
        return Every("stripe_catch_up", interval, self.run)

    def checkpoint(self) -> dict[str, object] | None:
        """The newest event recorded so far, as ``{"created", "id"}``."""
        with self.db.read() as session:
            row = session.get(Control, CHECKPOINT)
            return dict(row.value) if row is not None else None

    def _events_after_checkpoint(self, now: datetime) -> list[Event]:
        checkpoint = self.checkpoint()
        if checkpoint is None:
            return self.adapter.events_since(now - self.first_run_lookback, self.types)
        since = datetime.fromtimestamp(int(str(checkpoint["created"])), UTC)
        try:
            return self.adapter.events_after(str(checkpoint["id"]), self.types)
        except StripeRequestError as exc:
            if exc.provider_code != "resource_missing":
                raise
            # The checkpoint's event is past Stripe's 30 days: fall back on its time, and let
            # the inbox absorb what that reads twice.
            return self.adapter.events_since(since, self.types)


def _incoming(event: Event) -> inbox.IncomingEvent:
    return inbox.IncomingEvent(
        source="stripe",
        external_id=event.id,
        type=event.type,
        occurred_at=event.created,
        payload=dict(event.payload),
    )
