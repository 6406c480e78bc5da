"""Who is in dunning: the read model behind ``GET /api/billing/dunning`` and
``revline billing dunning``.

One entry per failed invoice still being worked or closed as exhausted (recognition stays held
for those): its tier, manual attempts, next retry, since when recognition is held and the
customer is out of the pipeline reports, and what waits for a person's approval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from revline.db.models import Action, ActionStatus, Case
from revline.playbooks.billing.failed_payment import (
    EXCLUDE,
    FAILED_PAYMENT,
    HOLD,
    INCLUDE,
    RESUME,
    State,
)


class PendingApproval(BaseModel):
    action_id: str
    kind: str
    reason: str | None
    proposed_at: datetime


class DunningEntry(BaseModel):
    case_id: str
    invoice: str
    customer: str | None
    state: str
    queue: str | None
    tier: str | None
    mrr: int | None
    failures: int
    manual_attempts: int
    max_manual_attempts: int
    next_retry_at: datetime | None
    promised_date: str | None
    recognition_held_since: datetime | None
    pipeline_excluded_since: datetime | None
    pending_approvals: list[PendingApproval]


def in_dunning(session: Session, max_manual_attempts: int) -> list[DunningEntry]:
    """Open failed-payment cases and exhausted ones, oldest first."""
    rows = (
        session.execute(
            select(Case)
            .where(Case.kind == FAILED_PAYMENT.name, Case.state != State.RECOVERED)
            .order_by(Case.opened_at, Case.id)
        )
        .scalars()
        .all()
    )
    actions: dict[str, list[Action]] = {}
    if rows:
        for action in session.execute(
            select(Action)
            .where(Action.case_id.in_([r.id for r in rows]))
            .order_by(Action.created_at, Action.id)
        ).scalars():
            actions.setdefault(str(action.case_id), []).append(action)
    return [_entry(row, actions.get(row.id, []), max_manual_attempts) for row in rows]


def _entry(case: Case, actions: list[Action], max_attempts: int) -> DunningEntry:
    data: dict[str, Any] = dict(case.data)
    return DunningEntry(
        case_id=case.id,
        invoice=case.subject,
        customer=case.customer,
        state=case.state,
        queue=case.queue,
        tier=data.get("tier"),
        mrr=data.get("mrr"),
        failures=int(data.get("failures", 0)),
        manual_attempts=int(data.get("manual_attempts", 0)),
        max_manual_attempts=max_attempts,
        next_retry_at=case.next_action_at if case.state in _RETRY_STATES else None,
        promised_date=data.get("promised_date"),
        recognition_held_since=_since(actions, HOLD, RESUME),
        pipeline_excluded_since=_since(actions, EXCLUDE, INCLUDE),
        pending_approvals=[
            PendingApproval(
                action_id=a.id, kind=a.kind, reason=a.gate_reason, proposed_at=a.created_at
            )
            for a in actions
            if a.status == ActionStatus.AWAITING_APPROVAL
        ],
    )


_RETRY_STATES = frozenset({State.RETRYING, State.PROMISED, State.NEEDS_CARD_UPDATE})


def _since(actions: list[Action], start: str, end: str) -> datetime | None:
    """When NetSuite confirmed ``start`` (the hold, the exclusion), unless ``end`` (the resume,
    the inclusion) has been applied since."""
    started = [
        a.applied_at for a in actions if a.kind == start and a.status == ActionStatus.APPLIED
    ]
    ended = any(a.kind == end and a.status == ActionStatus.APPLIED for a in actions)
    return min((h for h in started if h is not None), default=None) if not ended else None
