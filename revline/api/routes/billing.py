"""Billing: who is in dunning, and a customer's promise to pay by a date."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from revline.api.errors import ErrorBody
from revline.api.security import READ_ROLES, require, runtime_of
from revline.core import cases
from revline.core.auth import Principal
from revline.core.runtime import Runtime
from revline.errors import Conflict, NotFound
from revline.playbooks.billing.dunning import DunningEntry, in_dunning
from revline.playbooks.billing.failed_payment import FAILED_PAYMENT

router = APIRouter(
    tags=["billing"], responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}}
)
PROMISE_ROLES = frozenset({"billing_analyst", "revops_manager", "ar_specialist", "admin"})
Reader = Annotated[Principal, Depends(require(READ_ROLES, "read dunning"))]
Promiser = Annotated[Principal, Depends(require(PROMISE_ROLES, "record a promise to pay"))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


class PromiseRequest(BaseModel):
    promised_date: date


@router.get("/api/billing/dunning", response_model=list[DunningEntry])
def dunning(runtime: RuntimeDep, _: Reader) -> list[DunningEntry]:
    """Customers in dunning: tier, attempts, next retry, since when recognition is held and the
    customer is out of the pipeline reports, approvals."""
    with runtime.db.read() as session:
        return in_dunning(session, runtime.settings.policy.max_manual_retries)


@router.post(
    "/api/cases/{case_id}/promise",
    response_model=DunningEntry,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
def promise(
    runtime: RuntimeDep, principal: Promiser, case_id: str, body: PromiseRequest
) -> DunningEntry:
    """The customer promised to pay by a date: the next retry moves to the morning after it."""
    with runtime.db.read() as session:
        case = cases.get(session, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    if case.kind != FAILED_PAYMENT.name or case.closed_at is not None:
        raise Conflict(f"case {case_id} is not a failed payment in dunning")
    runtime.router().decide_now(
        case_id, principal.actor, {"promised_date": body.promised_date.isoformat()}
    )
    with runtime.db.read() as session:
        entries = in_dunning(session, runtime.settings.policy.max_manual_retries)
    return next(e for e in entries if e.case_id == case_id)
