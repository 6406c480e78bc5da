"""The action outbox: proposing, approving, rejecting, cancelling.

Every side effect is a row with a deterministic idempotency key built from domain identity:
``{playbook}:{kind}:{subject}:{attempt}``. Proposing the same key again with the same parameters
returns the existing action; with different parameters it is a conflict, never a silent no-op.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from revline.config import Policy
from revline.core import outcomes
from revline.core.cases import CaseView, new_id
from revline.core.gates import Gate, may_approve
from revline.core.jsonable import digest, jsonable
from revline.core.ledger import Ledger
from revline.core.playbook import ActionSpec, Withdrawal
from revline.db.models import (
    PENDING_ACTION_STATUSES,
    Action,
    ActionStatus,
    Case,
    WithdrawnEffect,
)
from revline.errors import Conflict, Forbidden, NotFound

MAX_KEY = 255


class IdempotencyConflict(Conflict):
    """The same idempotency key was proposed with different parameters."""

    code = "idempotency_conflict"


def idempotency_key(playbook: str, kind: str, subject: str, attempt: int | str) -> str:
    key = f"{playbook}:{kind}:{subject}:{attempt}"
    if len(key) <= MAX_KEY:
        return key
    # Providers cap keys at 255 characters; keep the readable head and make the tail unique.
    tail = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: MAX_KEY - 33]}~{tail}"


def shadowed_again(
    case: CaseView, playbook: str, specs: Iterable[ActionSpec]
) -> tuple[ActionSpec, ...]:
    """Of ``specs``, those the case proposed before and that were only shadowed (same key, same
    parameters). A playbook that has moved on from proposing them (a match proposed, the
    cardholder asked) proposes them again on each decision: once it is live, that takes them
    live (``propose``); while it is not, it changes nothing. Pure."""
    shadowed = {a.idempotency_key: a for a in case.actions if a.status == ActionStatus.SHADOWED}
    again = []
    for spec in specs:
        found = shadowed.get(idempotency_key(playbook, spec.kind, spec.subject, spec.attempt))
        if found is not None and found.params == jsonable(dict(spec.params)):
            again.append(spec)
    return tuple(again)


@dataclass(frozen=True)
class Proposed:
    action: Action
    created: bool


def propose(
    session: Session,
    ledger: Ledger,
    *,
    case: CaseView | None,
    playbook: str,
    spec: ActionSpec,
    gate: Gate,
    live: bool,
    proposed_by: str,
    now: datetime,
    event_id: int | None = None,
) -> Proposed:
    """Add an action to the outbox (or find the one already there for this key)."""
    key = idempotency_key(playbook, spec.kind, spec.subject, spec.attempt)
    params = jsonable(dict(spec.params))
    params_hash = digest(params)
    existing = session.execute(
        select(Action).where(Action.idempotency_key == key)
    ).scalar_one_or_none()
    if existing is not None:
        same = _same_or_conflict(existing, params_hash)
        if live and same.status == ActionStatus.SHADOWED:
            _take_live(session, ledger, same, gate, proposed_by, now, event_id)
            _unless_withdrawn(session, ledger, same, proposed_by, now, event_id)
        return Proposed(same, False)

    status = _status(live, gate)
    action = Action(
        id=new_id("act"),
        case_id=case.id if case else None,
        playbook=playbook,
        kind=spec.kind,
        subject=spec.subject,
        customer=case.customer if case else None,
        idempotency_key=key,
        params=params,
        params_hash=params_hash,
        status=status,
        not_before=gate.not_before,
        irreversible=gate.irreversible,
        required_role=gate.required_role,
        gate_reason=gate.reason,
        proposed_by=proposed_by,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(action)
    except IntegrityError:
        # Another writer proposed the same key between our read and our insert.
        raced = session.execute(select(Action).where(Action.idempotency_key == key)).scalar_one()
        return Proposed(_same_or_conflict(raced, params_hash), False)
    ledger.append(
        session,
        at=now,
        actor=proposed_by,
        kind="action.proposed",
        case_id=action.case_id,
        event_id=event_id,
        action_id=action.id,
        correlation_id=case.correlation_id if case else None,
        post_state=status,
        detail={
            "kind": spec.kind,
            "subject": spec.subject,
            "idempotency_key": key,
            "params": params,
            "not_before": gate.not_before,
            "gate": gate.reason,
            "required_role": gate.required_role,
        },
    )
    if spec.supersedes:
        _supersede(session, ledger, action, proposed_by, now, event_id)
    _unless_withdrawn(session, ledger, action, proposed_by, now, event_id)
    return Proposed(action, True)


def _status(live: bool, gate: Gate) -> ActionStatus:
    if not live:
        return ActionStatus.SHADOWED
    if gate.required_role:
        return ActionStatus.AWAITING_APPROVAL
    return ActionStatus.PROPOSED


def _take_live(
    session: Session,
    ledger: Ledger,
    action: Action,
    gate: Gate,
    actor: str,
    now: datetime,
    event_id: int | None,
) -> None:
    """A live decision proposes what the playbook decided in shadow mode: it is done now, under
    the gates as they stand. Shadow mode records what would have been done and must not use up
    the key (a payout shadowed before going live would never be deposited)."""
    action.status = _status(True, gate)
    action.not_before = gate.not_before
    action.irreversible = gate.irreversible
    action.required_role = gate.required_role
    action.gate_reason = gate.reason
    action.updated_at = now
    _audit(
        session,
        ledger,
        action,
        actor,
        "action.taken_live",
        ActionStatus.SHADOWED,
        now,
        {"not_before": gate.not_before, "gate": gate.reason, "required_role": gate.required_role},
        event_id=event_id,
    )


def _supersede(
    session: Session,
    ledger: Ledger,
    latest: Action,
    actor: str,
    now: datetime,
    event_id: int | None,
) -> None:
    """Cancel the playbook's actions of ``latest``'s kind and subject still pending under other
    keys. One already executing is past cancelling: the executor does not start ``latest``
    while it runs (``Executor._claim``), and the provider is asked first (a payout is deposited
    once whatever the key)."""
    earlier = _pending_of(session, latest.playbook, latest.kind, latest.subject)
    _cancel(
        session,
        ledger,
        (action for action in earlier if action.id != latest.id),
        actor=actor,
        now=now,
        error=f"superseded by {latest.idempotency_key}",
        detail={"reason": "superseded", "superseded_by": latest.id},
        event_id=event_id,
    )


def withdraw(
    session: Session,
    ledger: Ledger,
    *,
    playbook: str,
    withdrawal: Withdrawal,
    actor: str,
    now: datetime,
    event_id: int | None = None,
) -> list[str]:
    """Withdraw an effect for good: the playbook's actions of the withdrawal's kind and subject
    not yet started are cancelled, in whichever case they were proposed (their ids are
    returned), and one proposed later, or claimed again after an attempt that did not go
    through, is cancelled then (``withdrawn_reason``). Only an attempt at the provider when the
    withdrawal is made is past stopping; the playbook reads what it did on its next run."""
    if withdrawn_reason(session, playbook, withdrawal.kind, withdrawal.subject) is None:
        try:
            with session.begin_nested():
                session.add(
                    WithdrawnEffect(
                        playbook=playbook,
                        kind=withdrawal.kind,
                        subject=withdrawal.subject,
                        reason=withdrawal.reason,
                        withdrawn_by=actor,
                        withdrawn_at=now,
                    )
                )
        except IntegrityError:
            pass  # withdrawn by another writer between our read and our insert: as good
    return _cancel(
        session,
        ledger,
        _pending_of(session, playbook, withdrawal.kind, withdrawal.subject),
        actor=actor,
        now=now,
        error=f"withdrawn: {withdrawal.reason}",
        detail={"reason": "withdrawn", "why": withdrawal.reason},
        event_id=event_id,
    )


def withdrawn_reason(session: Session, playbook: str, kind: str, subject: str) -> str | None:
    """Why the playbook withdrew this effect for good; None if it did not."""
    return session.execute(
        select(WithdrawnEffect.reason).where(
            WithdrawnEffect.playbook == playbook,
            WithdrawnEffect.kind == kind,
            WithdrawnEffect.subject == subject,
        )
    ).scalar_one_or_none()


def _unless_withdrawn(
    session: Session,
    ledger: Ledger,
    action: Action,
    actor: str,
    now: datetime,
    event_id: int | None,
) -> None:
    """An action proposed (or taken live) after its effect was withdrawn is cancelled at once:
    a decision that read its facts before the withdrawal never carries it out."""
    reason = withdrawn_reason(session, action.playbook, action.kind, action.subject)
    if reason is not None and action.status in PENDING_ACTION_STATUSES:
        _cancel(
            session,
            ledger,
            [action],
            actor=actor,
            now=now,
            error=f"withdrawn: {reason}",
            detail={"reason": "withdrawn", "why": reason},
            event_id=event_id,
        )


def _pending_of(session: Session, playbook: str, kind: str, subject: str) -> Iterable[Action]:
    """The playbook's actions of ``kind`` on ``subject`` not yet started, locked."""
    return session.execute(
        select(Action)
        .where(
            Action.playbook == playbook,
            Action.kind == kind,
            Action.subject == subject,
            Action.status.in_(PENDING_ACTION_STATUSES),
        )
        .with_for_update()
    ).scalars()


def _same_or_conflict(existing: Action, params_hash: str) -> Action:
    if existing.params_hash != params_hash:
        raise IdempotencyConflict(
            f"idempotency key {existing.idempotency_key!r} was already used with other parameters"
        )
    return existing


def _load(session: Session, action_id: str) -> Action:
    action = session.get(Action, action_id, with_for_update=True)
    if action is None:
        raise NotFound(f"no action {action_id}")
    return action


def approve(
    session: Session,
    ledger: Ledger,
    *,
    action_id: str,
    approver: str,
    approver_role: str,
    policy: Policy,
    now: datetime,
    note: str | None = None,
) -> Action:
    """A person approves an action waiting for them; nobody approves their own proposal."""
    action = _load(session, action_id)
    _check_decidable(action, approver, approver_role, policy)
    action.status = ActionStatus.APPROVED
    action.approved_by = approver
    action.approved_at = now
    action.updated_at = now
    _audit(
        session,
        ledger,
        action,
        approver,
        "action.approved",
        ActionStatus.AWAITING_APPROVAL,
        now,
        {"note": note, "role": approver_role},
    )
    return action


def reject(
    session: Session,
    ledger: Ledger,
    *,
    action_id: str,
    approver: str,
    approver_role: str,
    policy: Policy,
    now: datetime,
    reason: str,
) -> Action:
    action = _load(session, action_id)
    _check_decidable(action, approver, approver_role, policy)
    action.status = ActionStatus.CANCELLED
    action.last_error = f"rejected by {approver}: {reason}"
    action.updated_at = now
    _audit(
        session,
        ledger,
        action,
        approver,
        "action.rejected",
        ActionStatus.AWAITING_APPROVAL,
        now,
        {"reason": reason, "role": approver_role},
    )
    # A playbook that follows its actions' outcomes decides what a refusal means for the case.
    outcomes.record(session, action, now)
    return action


def _check_decidable(action: Action, approver: str, approver_role: str, policy: Policy) -> None:
    if action.status != ActionStatus.AWAITING_APPROVAL:
        raise Conflict(f"action {action.id} is {action.status}, not awaiting approval")
    if approver == action.proposed_by:
        raise Forbidden("four-eyes: nobody approves or rejects their own proposal")
    if not may_approve(
        approver_role=approver_role,
        required_role=action.required_role,
        exclusive_roles=policy.exclusive_approval_roles,
    ):
        raise Forbidden(f"action {action.id} needs the {action.required_role} role")


def lock_for_decision(
    session: Session,
    *,
    case_id: str | None,
    playbook: str,
    effects: Iterable[tuple[str, str]],
) -> None:
    """Lock, in id order, the actions a decision may change, before its first ledger row: the
    case's actions not yet started (``case_id``, when it cancels them), and the playbook's
    actions of each ``(kind, subject)`` it proposes or withdraws, pending or only shadowed
    (superseded, withdrawn, taken live). An approval and the executor lock an action first and
    append to the ledger after; a decision taking the ledger's lock first and then waiting for
    such an action would wait for one that waits for it (PostgreSQL: a deadlock, one of them
    aborted)."""
    changeable = (*PENDING_ACTION_STATUSES, ActionStatus.SHADOWED)
    wanted = [
        and_(Action.playbook == playbook, Action.kind == kind, Action.subject == subject)
        for kind, subject in set(effects)
    ]
    if case_id is not None:
        wanted.append(Action.case_id == case_id)
    if wanted:
        session.execute(
            select(Action.id)
            .where(or_(*wanted), Action.status.in_(changeable))
            .order_by(Action.id)
            .with_for_update()
        ).all()


def cancel_pending(
    session: Session,
    ledger: Ledger,
    *,
    case: CaseView,
    actor: str,
    reason: str,
    now: datetime,
    event_id: int | None = None,
) -> list[str]:
    """Cancel every action of a case that has not yet started: a contradicting event arrived."""
    rows = session.execute(
        select(Action)
        .where(Action.case_id == case.id, Action.status.in_(PENDING_ACTION_STATUSES))
        .with_for_update()
    ).scalars()
    return _cancel(
        session,
        ledger,
        rows,
        actor=actor,
        now=now,
        error=f"cancelled: {reason}",
        detail={"reason": reason},
        event_id=event_id,
        correlation_id=case.correlation_id,
    )


def _cancel(
    session: Session,
    ledger: Ledger,
    actions: Iterable[Action],
    *,
    actor: str,
    now: datetime,
    error: str,
    detail: Mapping[str, Any],
    event_id: int | None,
    correlation_id: str | None = None,
) -> list[str]:
    """Cancel each of ``actions`` (pending, locked) with its ledger row; their ids."""
    cancelled = []
    for action in actions:
        prior = action.status
        action.status = ActionStatus.CANCELLED
        action.last_error = error
        action.updated_at = now
        _audit(
            session,
            ledger,
            action,
            actor,
            "action.cancelled",
            prior,
            now,
            detail,
            event_id=event_id,
            correlation_id=correlation_id,
        )
        cancelled.append(action.id)
    return cancelled


def _audit(
    session: Session,
    ledger: Ledger,
    action: Action,
    actor: str,
    kind: str,
    prior: str,
    now: datetime,
    detail: Mapping[str, Any],
    *,
    event_id: int | None = None,
    correlation_id: str | None = None,
) -> None:
    if correlation_id is None and action.case_id is not None:
        case = session.get(Case, action.case_id)
        correlation_id = case.correlation_id if case else None
    ledger.append(
        session,
        at=now,
        actor=actor,
        kind=kind,
        case_id=action.case_id,
        event_id=event_id,
        action_id=action.id,
        correlation_id=correlation_id,
        prior_state=prior,
        post_state=action.status,
        detail={"kind": action.kind, "subject": action.subject, **detail},
    )
