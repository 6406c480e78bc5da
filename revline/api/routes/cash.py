"""Cash: a day's payouts as the morning reconciliation left them, and a person's rerun."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from revline.api.errors import ErrorBody
from revline.api.security import READ_ROLES, require, runtime_of
from revline.core import cases
from revline.core.auth import Principal
from revline.core.runtime import Runtime
from revline.errors import Conflict, InvalidRequest, NotFound
from revline.playbooks.cash.duplicates import DUPLICATE_INVOICE, QUEUE
from revline.playbooks.cash.payout_day import PayoutDay, business_date, payouts_of
from revline.playbooks.cash.rerun import RERUN_ROLES, rerun_payout_day

router = APIRouter(tags=["cash"], responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
Reader = Annotated[Principal, Depends(require(READ_ROLES, "read payouts"))]
Rerunner = Annotated[Principal, Depends(require(RERUN_ROLES, "rerun a payout reconciliation"))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
# The AR specialist's, whose queue a duplicate invoice case waits in, and those above her.
SETTLE_ROLES = frozenset({QUEUE, "revops_manager", "admin"})
Settler = Annotated[Principal, Depends(require(SETTLE_ROLES, "settle a duplicate invoice case"))]


class SettleRequest(BaseModel):
    note: str = Field(min_length=1, description="what was done by hand, for the auditor")


class CaseState(BaseModel):
    case_id: str
    state: str
    queue: str | None


@router.get(
    "/api/cash/payouts",
    response_model=PayoutDay,
    responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
def payouts(
    runtime: RuntimeDep,
    _: Reader,
    request: Request,
    # Parsed here rather than by FastAPI, so a bad date is a 400 naming the parameter.
    date: Annotated[str | None, Query(description="the business date, YYYY-MM-DD")] = None,
) -> PayoutDay:
    """The payout reconciliation of one business date: each payout's status, deposit, fees,
    variance, and each payment's match with any orphan investigation opened for it."""
    given = request.query_params.getlist("date")
    if len(given) > 1:
        # Which of two dates was meant is not for Revline to guess (the last would be shown).
        raise InvalidRequest(f"date is given {len(given)} times ({', '.join(given)}); give one")
    day = business_date(date)
    with runtime.db.read() as session:
        return payouts_of(session, day)


@router.post(
    "/api/cash/payouts/{date}/rerun",
    response_model=PayoutDay,
    responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
def rerun(runtime: RuntimeDep, principal: Rerunner, date: str) -> PayoutDay:
    """Run the morning's payout reconciliation of ``date`` again now (after NetSuite was
    corrected): what ties is deposited, a payout already deposited is never posted twice."""
    day = business_date(date)
    rerun_payout_day(runtime, day, principal.actor)
    with runtime.db.read() as session:
        return payouts_of(session, day)


def _duplicate_case(runtime: Runtime, case_id: str) -> cases.CaseView:
    with runtime.db.read() as session:
        case = cases.get(session, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    if case.kind != DUPLICATE_INVOICE.name:
        raise Conflict(f"case {case_id} is not a duplicate invoice case")
    return case


def _state_of(runtime: Runtime, case_id: str) -> CaseState:
    with runtime.db.read() as session:
        case = cases.get(session, case_id)
    assert case is not None
    return CaseState(case_id=case.id, state=case.state, queue=case.queue)


@router.post(
    "/api/cases/{case_id}/recheck",
    response_model=CaseState,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
def recheck(runtime: RuntimeDep, principal: Settler, case_id: str) -> CaseState:
    """A duplicate invoice case decides again now, on fresh reads: after the AR specialist did a
    step by hand (voided the invoice in NetSuite), it goes on from there."""
    _duplicate_case(runtime, case_id)
    runtime.router().decide_now(case_id, principal.actor, {"reason": "recheck"})
    return _state_of(runtime, case_id)


@router.post(
    "/api/cases/{case_id}/settle",
    response_model=CaseState,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
def settle(runtime: RuntimeDep, principal: Settler, case_id: str, body: SettleRequest) -> CaseState:
    """The AR specialist settled by hand what stopped a duplicate invoice case (a refund Stripe
    failed: the customer refund reversed in NetSuite, the customer told): it resolves, with her
    note in the ledger, and what is still pending of it is cancelled."""
    case = _duplicate_case(runtime, case_id)
    if not body.note.strip():
        raise InvalidRequest("note must say what was done by hand")
    if case.state != "needs_person":
        raise Conflict(f"case {case_id} is {case.state}: only one with a person settles by hand")
    runtime.router().decide_now(case_id, principal.actor, {"settled": body.note.strip()})
    return _state_of(runtime, case_id)
