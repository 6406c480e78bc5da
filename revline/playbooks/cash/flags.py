"""Findings one playbook hands to another, through Revline's own inbox.

A playbook cannot open another playbook's case; the daily payout reconciliation finds orphan
payments, and each must become an ``orphan_payment`` case the same morning. It proposes a
``revline.orphan.flag`` action per orphan; carrying it out records an event of source
``finding`` (apart from the action outcomes of source ``revline``), one per charge and
insert-or-ignore, which the orphan playbook routes like any other. The flag is an action, so it
is in the ledger, obeys shadow mode and the emergency stop, and a second run flags nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revline.clock import Clock
from revline.core import inbox
from revline.db.engine import Database
from revline.providers.base import ActionRequest, Handlers

FINDING_SOURCE = "finding"
ORPHAN_FLAG = "revline.orphan.flag"
ORPHAN_FLAGGED = "orphan_payment.flagged"


def register(handlers: Handlers, db: Database, clock: Clock) -> None:
    """The handler of ``revline.orphan.flag``: record the finding as an inbox event."""

    def flag_orphan(request: ActionRequest) -> Mapping[str, Any]:
        external_id = f"orphan_payment:{request.subject}"
        event = inbox.IncomingEvent(
            FINDING_SOURCE, external_id, ORPHAN_FLAGGED, clock.now(), dict(request.params)
        )
        with db.write() as session:
            (new,) = inbox.record(session, [event], clock.now())
        return {"event": external_id, "replayed": not new}

    handlers.register(ORPHAN_FLAG, flag_orphan)
