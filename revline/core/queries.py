"""Read models for people: listings, counts and a case's timeline, shared by the CLI and the API.

Plain functions over a ``Session`` that return frozen dataclasses; ``document`` turns any of them
into JSON-ready values (times as ISO UTC, amounts left as integer minor units). Nothing here
writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from revline.config import Settings
from revline.core import controls
from revline.core.auth import Principal
from revline.core.controls import StopState
from revline.core.jsonable import jsonable
from revline.db.models import Action, Attempt, Case, Event, LedgerRow, User
from revline.db.models import Decision as DecisionRow
from revline.errors import Forbidden, NotFound


def document(value: Any) -> Any:
    """The JSON form of a query result: dataclasses become objects, times ISO UTC strings."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    elif isinstance(value, list | tuple):
        return [document(item) for item in value]
    return jsonable(value)


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSummary:
    """A stored event without its payload."""

    id: int
    source: str
    external_id: str
    type: str
    status: str
    attempts: int
    occurred_at: datetime | None
    received_at: datetime
    processed_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None

    @classmethod
    def of(cls, row: Event) -> EventSummary:
        return cls(
            id=row.id,
            source=row.source,
            external_id=row.external_id,
            type=row.type,
            status=row.status,
            attempts=row.attempts,
            occurred_at=row.occurred_at,
            received_at=row.received_at,
            processed_at=row.processed_at,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
        )


@dataclass(frozen=True)
class CaseSummary:
    id: str
    kind: str
    playbook: str
    subject: str
    customer: str | None
    state: str
    state_version: int
    correlation_id: str
    next_action_at: datetime | None
    queue: str | None
    flags: dict[str, Any]
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, row: Case) -> CaseSummary:
        return cls(
            id=row.id,
            kind=row.kind,
            playbook=row.playbook,
            subject=row.subject,
            customer=row.customer,
            state=row.state,
            state_version=row.state_version,
            correlation_id=row.correlation_id,
            next_action_at=row.next_action_at,
            queue=row.queue,
            flags=dict(row.flags),
            opened_at=row.opened_at,
            updated_at=row.updated_at,
            closed_at=row.closed_at,
        )


@dataclass(frozen=True)
class ActionSummary:
    """An outbox row; ``params`` are exactly what the provider receives (amounts in minor units)."""

    id: str
    case_id: str | None
    playbook: str
    kind: str
    subject: str
    customer: str | None
    status: str
    params: dict[str, Any]
    idempotency_key: str
    not_before: datetime
    irreversible: bool
    required_role: str | None
    gate_reason: str | None
    proposed_by: str
    approved_by: str | None
    approved_at: datetime | None
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    applied_at: datetime | None

    @classmethod
    def of(cls, row: Action) -> ActionSummary:
        return cls(
            id=row.id,
            case_id=row.case_id,
            playbook=row.playbook,
            kind=row.kind,
            subject=row.subject,
            customer=row.customer,
            status=row.status,
            params=dict(row.params),
            idempotency_key=row.idempotency_key,
            not_before=row.not_before,
            irreversible=row.irreversible,
            required_role=row.required_role,
            gate_reason=row.gate_reason,
            proposed_by=row.proposed_by,
            approved_by=row.approved_by,
            approved_at=row.approved_at,
            attempts=row.attempts,
            last_error=row.last_error,
            created_at=row.created_at,
            updated_at=row.updated_at,
            applied_at=row.applied_at,
        )


@dataclass(frozen=True)
class AttemptRecord:
    """One provider call an action made."""

    number: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error: str | None

    @classmethod
    def of(cls, row: Attempt) -> AttemptRecord:
        return cls(row.number, row.worker, row.started_at, row.finished_at, row.outcome, row.error)


@dataclass(frozen=True)
class ActionHistory:
    action: ActionSummary
    attempts: tuple[AttemptRecord, ...]


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    playbook: str
    trigger: str
    event_id: int | None
    at: datetime
    prior_state: str | None
    post_state: str
    explanation: str
    mode: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: DecisionRow) -> DecisionRecord:
        return cls(
            id=row.id,
            playbook=row.playbook,
            trigger=row.trigger,
            event_id=row.event_id,
            at=row.at,
            prior_state=row.prior_state,
            post_state=row.post_state,
            explanation=row.explanation,
            mode=row.mode,
            detail=dict(row.detail),
        )


@dataclass(frozen=True)
class LedgerEntry:
    seq: int
    at: datetime
    actor: str
    kind: str
    case_id: str | None
    event_id: int | None
    action_id: str | None
    correlation_id: str | None
    prior_state: str | None
    post_state: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, row: LedgerRow) -> LedgerEntry:
        return cls(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            kind=row.kind,
            case_id=row.case_id,
            event_id=row.event_id,
            action_id=row.action_id,
            correlation_id=row.correlation_id,
            prior_state=row.prior_state,
            post_state=row.post_state,
            detail=dict(row.detail),
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


@dataclass(frozen=True)
class CaseTimeline:
    """Everything that happened to a case, oldest first."""

    case: CaseSummary
    data: dict[str, Any]
    decisions: tuple[DecisionRecord, ...]
    actions: tuple[ActionHistory, ...]
    ledger: tuple[LedgerEntry, ...]


@dataclass(frozen=True)
class Overview:
    """The operator's first look: is anything stopped, what runs how, and how much is where."""

    stop: StopState
    modes: dict[str, str]
    events: dict[str, int]
    cases: dict[str, dict[str, int]]
    actions: dict[str, int]
    ledger_rows: int


# -- listings ---------------------------------------------------------------------------------


def _where(*conditions: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    return [condition for condition in conditions if condition is not None]


def list_events(
    session: Session, *, status: str | None = None, source: str | None = None, limit: int = 50
) -> list[EventSummary]:
    """The newest events first."""
    query = (
        select(Event)
        .where(
            *_where(
                Event.status == status if status else None,
                Event.source == source if source else None,
            )
        )
        .order_by(Event.id.desc())
        .limit(limit)
    )
    return [EventSummary.of(row) for row in session.execute(query).scalars()]


def list_cases(
    session: Session, *, kind: str | None = None, state: str | None = None, limit: int = 50
) -> list[CaseSummary]:
    """The most recently changed cases first."""
    query = (
        select(Case)
        .where(*_where(Case.kind == kind if kind else None, Case.state == state if state else None))
        .order_by(Case.updated_at.desc(), Case.id)
        .limit(limit)
    )
    return [CaseSummary.of(row) for row in session.execute(query).scalars()]


def list_actions(
    session: Session, *, status: str | None = None, case_id: str | None = None, limit: int = 50
) -> list[ActionSummary]:
    """The newest actions first."""
    query = (
        select(Action)
        .where(
            *_where(
                Action.status == status if status else None,
                Action.case_id == case_id if case_id else None,
            )
        )
        .order_by(Action.created_at.desc(), Action.id)
        .limit(limit)
    )
    return [ActionSummary.of(row) for row in session.execute(query).scalars()]


def list_ledger(
    session: Session,
    *,
    case_id: str | None = None,
    correlation_id: str | None = None,
    limit: int = 50,
) -> list[LedgerEntry]:
    """The last ``limit`` matching rows, in chain order (like ``tail``)."""
    query = (
        select(LedgerRow)
        .where(
            *_where(
                LedgerRow.case_id == case_id if case_id else None,
                LedgerRow.correlation_id == correlation_id if correlation_id else None,
            )
        )
        .order_by(LedgerRow.seq.desc())
        .limit(limit)
    )
    return [LedgerEntry.of(row) for row in reversed(session.execute(query).scalars().all())]


@dataclass(frozen=True)
class CaseRecords:
    """Everything stored about one case, as rows: what both the API's and the CLI's timelines
    are drawn from."""

    case: Case
    decisions: list[DecisionRow]
    events: list[Event]
    actions: list[Action]
    attempts: dict[str, list[Attempt]]
    ledger: list[LedgerRow]


def case_records(session: Session, case_id: str) -> CaseRecords:
    """A case's decisions, the events behind them, its actions with their attempts (by action
    id, in order) and its ledger rows."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    decisions = list(
        session.execute(
            select(DecisionRow).where(DecisionRow.case_id == case_id).order_by(DecisionRow.id)
        ).scalars()
    )
    event_ids = {d.event_id for d in decisions if d.event_id is not None}
    events = (
        list(session.execute(select(Event).where(Event.id.in_(event_ids))).scalars())
        if event_ids
        else []
    )
    actions = list(
        session.execute(
            select(Action).where(Action.case_id == case_id).order_by(Action.created_at, Action.id)
        ).scalars()
    )
    attempts: dict[str, list[Attempt]] = {action.id: [] for action in actions}
    if actions:
        for attempt in session.execute(
            select(Attempt)
            .where(Attempt.action_id.in_(list(attempts)))
            .order_by(Attempt.action_id, Attempt.number)
        ).scalars():
            attempts[attempt.action_id].append(attempt)
    ledger = list(
        session.execute(
            select(LedgerRow).where(LedgerRow.case_id == case_id).order_by(LedgerRow.seq)
        ).scalars()
    )
    return CaseRecords(case, decisions, events, actions, attempts, ledger)


def case_timeline(session: Session, case_id: str) -> CaseTimeline:
    """A case with its decisions, its actions and their attempts, and its ledger rows."""
    records = case_records(session, case_id)
    return CaseTimeline(
        case=CaseSummary.of(records.case),
        data=dict(records.case.data),
        decisions=tuple(DecisionRecord.of(row) for row in records.decisions),
        actions=tuple(
            ActionHistory(
                ActionSummary.of(action),
                tuple(AttemptRecord.of(a) for a in records.attempts[action.id]),
            )
            for action in records.actions
        ),
        ledger=tuple(LedgerEntry.of(row) for row in records.ledger),
    )


# -- counts -----------------------------------------------------------------------------------


def event_counts(session: Session) -> dict[str, int]:
    """Events by status."""
    rows = session.execute(select(Event.status, func.count()).group_by(Event.status))
    return {status: count for status, count in rows.tuples()}


def action_counts(session: Session) -> dict[str, int]:
    """Actions by status."""
    rows = session.execute(select(Action.status, func.count()).group_by(Action.status))
    return {status: count for status, count in rows.tuples()}


def case_counts(session: Session) -> dict[str, dict[str, int]]:
    """Cases by kind, then by state."""
    rows = session.execute(
        select(Case.kind, Case.state, func.count())
        .group_by(Case.kind, Case.state)
        .order_by(Case.kind, Case.state)
    )
    counts: dict[str, dict[str, int]] = {}
    for kind, state, count in rows.tuples():
        counts.setdefault(kind, {})[state] = count
    return counts


def ledger_size(session: Session) -> int:
    return session.execute(select(func.count()).select_from(LedgerRow)).scalar_one()


def overview(session: Session, settings: Settings, playbooks: Sequence[str]) -> Overview:
    """Stop state, the mode of each of ``playbooks``, and counts across the spine."""
    return Overview(
        stop=controls.stop_state(session),
        modes=controls.all_modes(session, settings, list(playbooks)),
        events=event_counts(session),
        cases=case_counts(session),
        actions=action_counts(session),
        ledger_rows=ledger_size(session),
    )


# -- people -----------------------------------------------------------------------------------


def principal_named(session: Session, name: str) -> Principal:
    """The enabled user called ``name``, as the principal approvals are recorded under."""
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user named {name!r}")
    if user.disabled:
        raise Forbidden(f"user {name!r} is disabled")
    return Principal(user.id, user.name, user.role)
