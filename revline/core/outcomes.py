"""Action outcomes as inbox events, so a playbook can decide what comes next.

When an action of a case is applied or fails, the executor records an ``action.applied`` or
``action.failed`` event from source ``revline`` in the same transaction as the outcome; the
router hands it to the case's playbook (if it follows outcomes). A personal email can then quote
the billing-portal link that was just created, or a case close once its deposit is confirmed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from revline.core import inbox
from revline.db.models import Action

OUTCOME_SOURCE = "revline"
OUTCOME_PREFIX = "action."


def record(session: Session, action: Action, now: datetime) -> None:
    """Record the outcome of a case's action (nothing for actions outside a case)."""
    if action.case_id is None:
        return
    inbox.record(
        session,
        [
            inbox.IncomingEvent(
                source=OUTCOME_SOURCE,
                external_id=f"{action.id}:{action.status}",
                type=f"{OUTCOME_PREFIX}{action.status}",
                occurred_at=now,
                payload={
                    "action_id": action.id,
                    "case_id": action.case_id,
                    "playbook": action.playbook,
                    "kind": action.kind,
                    "subject": action.subject,
                    "idempotency_key": action.idempotency_key,
                    "status": action.status,
                    "params": dict(action.params),
                    "result": dict(action.result) if action.result is not None else None,
                    "error": action.last_error,
                },
            )
        ],
        now,
    )
