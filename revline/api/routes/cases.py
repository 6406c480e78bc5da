"""Cases: listing, one case with its timeline, and actions proposed on a case by people."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from revline.api.errors import ErrorBody
from revline.api.routes._paging import Limit, Offset, page
from revline.api.schemas import (
    ActionEntry,
    ActionOut,
    ActionWithAttempts,
    AttemptOut,
    CaseDetail,
    CaseOut,
    DecisionEntry,
    DecisionOut,
    EventEntry,
    EventOut,
    LedgerEntry,
    LedgerOut,
    Page,
    ProposalOut,
    ProposeRequest,
    TimelineEntry,
)
from revline.api.security import PROPOSE_ROLES, READ_ROLES, require, runtime_of
from revline.core import actions, cases, controls, gates, queries
from revline.core.auth import Principal
from revline.core.playbook import ActionSpec
from revline.core.runtime import Runtime
from revline.db.models import Case
from revline.errors import NotFound

router = APIRouter(
    prefix="/api/cases",
    tags=["cases"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)
Reader = Annotated[Principal, Depends(require(READ_ROLES, "read cases"))]
Proposer = Annotated[Principal, Depends(require(PROPOSE_ROLES, "propose actions"))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]

# Entries at the same instant read in causal order: what arrived, what was decided, what was
# proposed, what the ledger wrote about it.
_ORDER = {"event": 0, "decision": 1, "action": 2, "ledger": 3}


@router.get("", response_model=Page[CaseOut])
def list_cases(
    runtime: RuntimeDep,
    _: Reader,
    kind: str | None = None,
    state: str | None = None,
    queue: str | None = None,
    customer: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[CaseOut]:
    """Cases, most recently opened first, filtered by kind, state, queue and customer."""
    query = select(Case).order_by(Case.opened_at.desc(), Case.id)
    for column, value in (
        (Case.kind, kind),
        (Case.state, state),
        (Case.queue, queue),
        (Case.customer, customer),
    ):
        if value is not None:
            query = query.where(column == value)
    with runtime.db.read() as session:
        return page(session, query, CaseOut, limit, offset)


@router.get("/{case_id}", response_model=CaseDetail, responses={404: {"model": ErrorBody}})
def get_case(runtime: RuntimeDep, _: Reader, case_id: str) -> CaseDetail:
    """The case and its timeline: the events that triggered its decisions, the decisions, its
    actions with every provider attempt, and its ledger rows, in time order."""
    with runtime.db.read() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        return CaseDetail(case=CaseOut.model_validate(case), timeline=timeline(session, case_id))


def timeline(session: Session, case_id: str) -> list[TimelineEntry]:
    """Everything recorded about one case, sorted by time (then causal order, then id)."""
    records = queries.case_records(session, case_id)
    events, decisions, action_rows, ledger = (
        records.events,
        records.decisions,
        records.actions,
        records.ledger,
    )
    attempts = {
        action_id: [AttemptOut.model_validate(a) for a in rows]
        for action_id, rows in records.attempts.items()
    }

    # Sort key: time, causal order, then the row's own id (numeric or string).
    keyed: list[tuple[tuple[datetime, int, int, str], TimelineEntry]] = []
    for e in events:
        event_entry = EventEntry(at=e.received_at, event=EventOut.model_validate(e))
        keyed.append(((e.received_at, _ORDER["event"], e.id, ""), event_entry))
    for d in decisions:
        decision_entry = DecisionEntry(at=d.at, decision=DecisionOut.model_validate(d))
        keyed.append(((d.at, _ORDER["decision"], d.id, ""), decision_entry))
    for a in action_rows:
        fields = ActionOut.model_validate(a).model_dump()
        action_entry = ActionEntry(
            at=a.created_at, action=ActionWithAttempts(**fields, attempt_log=attempts[a.id])
        )
        keyed.append(((a.created_at, _ORDER["action"], 0, a.id), action_entry))
    for row in ledger:
        ledger_entry = LedgerEntry(at=row.at, ledger=LedgerOut.model_validate(row))
        keyed.append(((row.at, _ORDER["ledger"], row.seq, ""), ledger_entry))
    keyed.sort(key=lambda pair: pair[0])
    return [entry for _, entry in keyed]


@router.post(
    "/{case_id}/actions",
    status_code=201,
    response_model=ProposalOut,
    responses={
        200: {"model": ProposalOut, "description": "the same proposal was already in the outbox"},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody, "description": "same idempotency key, different parameters"},
    },
)
def propose_action(
    runtime: RuntimeDep,
    principal: Proposer,
    case_id: str,
    body: ProposeRequest,
    response: Response,
) -> ProposalOut:
    """Propose an action on a case. Whoever proposes it, person or assistant, a second person
    must approve it (four-eyes) before the executor will run it; in shadow mode it is only
    recorded."""
    now = runtime.clock.now()
    spec = ActionSpec(body.kind, body.subject, body.params, attempt=body.attempt)
    with runtime.db.write() as session:
        case = cases.get(session, case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        mode = controls.mode_of(session, runtime.settings, case.playbook)
        gate = gates.evaluate(
            spec,
            case_flags=case.flags,
            policy=runtime.settings.policy,
            currency=runtime.settings.company.currency,
            now=now,
            proposed_by_person=True,
        )
        proposed = actions.propose(
            session,
            runtime.ledger,
            case=case,
            playbook=case.playbook,
            spec=spec,
            gate=gate,
            live=mode.is_live_for(case.playbook, case.customer),
            proposed_by=principal.actor,
            now=now,
        )
        result = ProposalOut(
            action=ActionOut.model_validate(proposed.action), created=proposed.created
        )
    if not proposed.created:
        response.status_code = 200
    return result
