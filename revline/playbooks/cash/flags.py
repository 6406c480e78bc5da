"""Findings one playbook hands to another, through Revline's own inbox.

A playbook cannot open another playbook's case; the daily payout reconciliation finds orphan
payments, paid duplicate invoices and payouts whose deposit cannot tie, and each must become its
own case (``orphan_payment``, ``duplicate_invoice``, ``payout_variance``) the same morning. It
proposes a ``revline.<finding>.flag`` action per finding; carrying it out records an event of
source ``finding`` (apart from the action outcomes of source ``revline``), insert-or-ignore,
which the other playbook routes like any other. The flag is an action, so it is in the ledger,
obeys shadow mode and the emergency stop, and a second run flags nothing twice.

An orphan payment or a duplicate invoice is found once: one event per subject. A payout variance
is found again, with other figures, while the books are corrected in part (the flag's key names
the figures, see ``payouts._variance_flag``): one event per flag, under the flag's key, so each
reaches the payout's case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revline.clock import Clock
from revline.core import inbox
from revline.db.engine import Database
from revline.providers.base import ActionRequest, Handler, Handlers

FINDING_SOURCE = "finding"
ORPHAN_FLAG = "revline.orphan.flag"
ORPHAN_FLAGGED = "orphan_payment.flagged"
DUPLICATE_FLAG = "revline.duplicate.flag"
DUPLICATE_FLAGGED = "duplicate_invoice.flagged"
PAYOUT_VARIANCE_FLAG = "revline.payout_variance.flag"
PAYOUT_VARIANCE_FLAGGED = "payout_variance.flagged"

# Action kind → (the finding's event type, the prefix of its external id for a finding found
# once per subject, or None for one found again under each flag's key).
_FINDINGS = {
    ORPHAN_FLAG: (ORPHAN_FLAGGED, "orphan_payment"),
    DUPLICATE_FLAG: (DUPLICATE_FLAGGED, "duplicate_invoice"),
    PAYOUT_VARIANCE_FLAG: (PAYOUT_VARIANCE_FLAGGED, None),
}


def register(handlers: Handlers, db: Database, clock: Clock) -> None:
    """The handlers of the ``revline.*.flag`` actions: record each finding as an inbox event."""
    for kind, (event_type, prefix) in _FINDINGS.items():
        handlers.register(kind, _recorder(db, clock, event_type, prefix))


def _recorder(db: Database, clock: Clock, event_type: str, prefix: str | None) -> Handler:
    def record_finding(request: ActionRequest) -> Mapping[str, Any]:
        external_id = request.idempotency_key if prefix is None else f"{prefix}:{request.subject}"
        voided = request.params.get("voided")
        if prefix is not None and voided:
            # Found again after the payment recorded for it was voided: another finding.
            external_id += f":after-voided-{'-'.join(map(str, voided))}"
        event = inbox.IncomingEvent(
            FINDING_SOURCE, external_id, event_type, clock.now(), dict(request.params)
        )
        with db.write() as session:
            (new,) = inbox.record(session, [event], clock.now())
        return {"event": external_id, "replayed": not new}

    return record_finding
