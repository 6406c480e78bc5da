"""Cases for tests: hand-built snapshots for playbook unit tests, and stored cases for API and
CLI tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from revline.core.cases import ActionView, CaseKind, CaseView, open_or_get
from revline.db.models import Case


def case_view(
    playbook: str,
    subject: str,
    state: str,
    at: datetime,
    *,
    id: str = "cas_1",
    kind: str | None = None,
    customer: str | None = None,
    state_version: int = 1,
    correlation_id: str | None = None,
    next_action_at: datetime | None = None,
    data: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    queue: str | None = None,
    closed_at: datetime | None = None,
    actions: tuple[ActionView, ...] = (),
) -> CaseView:
    """A ``CaseView`` as a freshly opened case of ``playbook`` looks, opened at ``at``.

    Playbook tests call ``decide`` on a snapshot rather than a stored case, and spelling out
    all fourteen fields each time hid the few that matter to the test. The defaults are what
    ``open_or_get`` gives a new case (kind named after the playbook, version 1, correlation id
    = case id, no data, flags, queue or timer); pass any field to override it.
    """
    return CaseView(
        id=id,
        kind=playbook if kind is None else kind,
        playbook=playbook,
        subject=subject,
        customer=customer,
        state=state,
        state_version=state_version,
        correlation_id=id if correlation_id is None else correlation_id,
        next_action_at=next_action_at,
        data={} if data is None else data,
        flags={} if flags is None else flags,
        queue=queue,
        opened_at=at,
        closed_at=closed_at,
        actions=actions,
    )


def stored_case(
    session: Session, kind: CaseKind, playbook: str, subject: str, now: datetime, **fields: Any
) -> str:
    """Open a case in the database as its playbook would, then set ``fields`` on the row (its
    state, data, queue…) to stand for the decisions that brought it there; returns its id.
    ``customer`` is the case's customer, set when it is opened."""
    view, _ = open_or_get(
        session,
        kind=kind,
        playbook=playbook,
        subject=subject,
        customer=fields.pop("customer", None),
        correlation_id=None,
        now=now,
    )
    row = session.get(Case, view.id)
    assert row is not None
    for name, value in fields.items():
        setattr(row, name, value)
    return view.id
