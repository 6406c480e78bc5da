"""Catch-up for Ramp: what a lost webhook would have told us, found by asking.

Ramp has no events list to replay (Stripe has one), and its webhooks only say "look at this
transaction". So the catch-up lists the transactions awaiting review and records, for each, the
notification a ``transactions.ready_for_review`` webhook would have carried, under an id of its
own (``poll:ready_for_review:<transaction>``) so the inbox keeps one per transaction. Playbooks
treat Ramp notifications as pointers to the transaction's current state, so a transaction seen
both by webhook and by the poll is still decided on once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from revline.core import inbox
from revline.core.scheduler import Every
from revline.db.engine import Database
from revline.providers.base import ProviderError
from revline.providers.ramp.client import RampAdapter

log = logging.getLogger(__name__)

READY_FOR_REVIEW = "transactions.ready_for_review"
AWAITING_REVIEWER = "AWAITING_REVIEWER"


@dataclass
class RampCatchUp:
    adapter: RampAdapter
    db: Database

    def run(self, now: datetime) -> int:
        """One pass; returns how many notifications were new. A Ramp failure waits for the next."""
        try:
            waiting = list(self.adapter.list_transactions(approval_status=AWAITING_REVIEWER))
        except ProviderError as exc:
            log.warning("Ramp catch-up failed: %s", exc.message)
            return 0
        events = [
            inbox.IncomingEvent(
                source="ramp",
                external_id=f"poll:ready_for_review:{transaction.id}",
                type=READY_FOR_REVIEW,
                occurred_at=now,
                payload={
                    "id": f"poll:ready_for_review:{transaction.id}",
                    "type": READY_FOR_REVIEW,
                    "created_at": now.isoformat(),
                    "business_id": None,
                    "object": {"id": transaction.id},
                    "via": "catch_up",
                },
            )
            for transaction in waiting
        ]
        if not events:
            return 0
        with self.db.write() as session:
            return sum(inbox.record(session, events, now))

    def job(self, interval: timedelta = timedelta(minutes=5)) -> Every:
        return Every("ramp_catch_up", interval, self.run)
