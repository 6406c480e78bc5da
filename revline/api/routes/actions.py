"""The outbox: listing actions, and approving or rejecting those that wait for a person."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from sqlalchemy import select

from revline.api.errors import ErrorBody
from revline.api.routes._paging import Limit, Offset, page
from revline.api.schemas import ActionOut, ApproveRequest, Page, RejectRequest
from revline.api.security import DECIDE_ROLES, READ_ROLES, require, runtime_of
from revline.core import actions
from revline.core.auth import Principal
from revline.core.runtime import Runtime
from revline.db.models import Action, ActionStatus

router = APIRouter(
    prefix="/api/actions",
    tags=["actions"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)
Reader = Annotated[Principal, Depends(require(READ_ROLES, "read actions"))]
Decider = Annotated[Principal, Depends(require(DECIDE_ROLES, "approve or reject actions"))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]

_DECISION_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorBody, "description": "wrong role, or the caller proposed it (four-eyes)"},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody, "description": "the action is not awaiting approval"},
}


@router.get("", response_model=Page[ActionOut])
def list_actions(
    runtime: RuntimeDep,
    _: Reader,
    status: ActionStatus | None = None,
    case_id: str | None = None,
    kind: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ActionOut]:
    """Actions, newest first; ``status=awaiting_approval`` is the approvals queue."""
    query = select(Action).order_by(Action.created_at.desc(), Action.id)
    if status is not None:
        query = query.where(Action.status == status)
    if case_id is not None:
        query = query.where(Action.case_id == case_id)
    if kind is not None:
        query = query.where(Action.kind == kind)
    with runtime.db.read() as session:
        return page(session, query, ActionOut, limit, offset)


@router.post("/{action_id}/approve", response_model=ActionOut, responses=_DECISION_ERRORS)
def approve_action(
    runtime: RuntimeDep,
    principal: Decider,
    action_id: str,
    body: Annotated[ApproveRequest | None, Body()] = None,
) -> ActionOut:
    """Approve an action awaiting approval: the action's required role (or admin), and never
    the person who proposed it."""
    with runtime.db.write() as session:
        action = actions.approve(
            session,
            runtime.ledger,
            action_id=action_id,
            approver=principal.actor,
            approver_role=principal.role,
            policy=runtime.settings.policy,
            now=runtime.clock.now(),
            note=body.note if body else None,
        )
        return ActionOut.model_validate(action)


@router.post("/{action_id}/reject", response_model=ActionOut, responses=_DECISION_ERRORS)
def reject_action(
    runtime: RuntimeDep, principal: Decider, action_id: str, body: RejectRequest
) -> ActionOut:
    """Reject (cancel) an action awaiting approval; the reason goes to the ledger."""
    with runtime.db.write() as session:
        action = actions.reject(
            session,
            runtime.ledger,
            action_id=action_id,
            approver=principal.actor,
            approver_role=principal.role,
            policy=runtime.settings.policy,
            now=runtime.clock.now(),
            reason=body.reason,
        )
        return ActionOut.model_validate(action)
