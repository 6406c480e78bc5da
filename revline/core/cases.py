"""Cases: the unit of business work, with declared transitions and optimistic concurrency.

A transition is ``UPDATE … WHERE state_version = :seen``; a writer that lost the race gets
``False`` back and decides again from fresh state. Nothing overwrites a state it did not see.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from revline.db.models import Action, Case
from revline.errors import RevlineError


class InvalidTransition(RevlineError):
    code = "invalid_transition"
    http_status = 409


@dataclass(frozen=True)
class CaseKind:
    """A kind of case and the state graph it may move along."""

    name: str
    initial: str
    transitions: Mapping[str, frozenset[str]]
    terminal: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        states = set(self.transitions) | {s for t in self.transitions.values() for s in t}
        unknown = (self.terminal | {self.initial}) - states
        if unknown:
            raise ValueError(
                f"case kind {self.name}: states {sorted(unknown)} are not in the graph"
            )

    @property
    def states(self) -> frozenset[str]:
        return frozenset(self.transitions) | frozenset(
            s for targets in self.transitions.values() for s in targets
        )

    def check(self, prior: str, post: str) -> None:
        if prior == post:
            return
        if post not in self.transitions.get(prior, frozenset()):
            raise InvalidTransition(f"{self.name}: {prior} → {post} is not an allowed transition")


@dataclass(frozen=True)
class ActionView:
    """What a playbook sees of one of its case's actions: what it was and what became of it."""

    id: str
    kind: str
    subject: str
    idempotency_key: str
    status: str
    params: Mapping[str, Any]
    result: Mapping[str, Any] | None
    error: str | None
    created_at: datetime
    applied_at: datetime | None


@dataclass(frozen=True)
class CaseView:
    """An immutable snapshot of a case, as playbooks see it."""

    id: str
    kind: str
    playbook: str
    subject: str
    customer: str | None
    state: str
    state_version: int
    correlation_id: str
    next_action_at: datetime | None
    data: Mapping[str, Any]
    flags: Mapping[str, Any]
    queue: str | None
    opened_at: datetime
    closed_at: datetime | None
    actions: tuple[ActionView, ...] = ()

    @classmethod
    def of(cls, row: Case, actions: tuple[ActionView, ...] = ()) -> CaseView:
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
            data=dict(row.data),
            flags=dict(row.flags),
            queue=row.queue,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            actions=actions,
        )


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def open_or_get(
    session: Session,
    *,
    kind: CaseKind,
    playbook: str,
    subject: str,
    customer: str | None,
    correlation_id: str | None,
    now: datetime,
) -> tuple[CaseView, bool]:
    """The case for ``(kind, subject)``, opening it in its initial state if there is none."""
    case_id = new_id("cas")
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(Case)
        .values(
            id=case_id,
            kind=kind.name,
            playbook=playbook,
            subject=subject,
            customer=customer,
            state=kind.initial,
            state_version=1,
            correlation_id=correlation_id or case_id,
            data={},
            flags={},
            opened_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["kind", "subject"])
        .returning(Case.id)
    )
    created = session.execute(statement).first() is not None
    row = session.execute(
        select(Case).where(Case.kind == kind.name, Case.subject == subject)
    ).scalar_one()
    return CaseView.of(row), created


def get(session: Session, case_id: str) -> CaseView | None:
    """A case with its actions' history, oldest first."""
    row = session.get(Case, case_id)
    return CaseView.of(row, actions_of(session, case_id)) if row else None


def actions_of(session: Session, case_id: str) -> tuple[ActionView, ...]:
    rows = session.execute(
        select(Action).where(Action.case_id == case_id).order_by(Action.created_at, Action.id)
    ).scalars()
    return tuple(
        ActionView(
            id=a.id,
            kind=a.kind,
            subject=a.subject,
            idempotency_key=a.idempotency_key,
            status=a.status,
            params=dict(a.params),
            result=dict(a.result) if a.result is not None else None,
            error=a.last_error,
            created_at=a.created_at,
            applied_at=a.applied_at,
        )
        for a in rows
    )


def transition(
    session: Session,
    *,
    kind: CaseKind,
    seen: CaseView,
    state: str,
    next_action_at: datetime | None,
    data: Mapping[str, Any],
    flags: Mapping[str, Any],
    queue: str | None,
    now: datetime,
) -> bool:
    """Move a case from the state it was seen in; False when someone else moved it first."""
    kind.check(seen.state, state)
    closed_at = now if state in kind.terminal and seen.closed_at is None else seen.closed_at
    if state not in kind.terminal:
        closed_at = None
    result = session.execute(
        update(Case)
        .where(Case.id == seen.id, Case.state_version == seen.state_version)
        .values(
            state=state,
            state_version=seen.state_version + 1,
            next_action_at=next_action_at,
            data=dict(data),
            flags=dict(flags),
            queue=queue,
            updated_at=now,
            closed_at=closed_at,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
